-- Small field values ride in the checkpoint row (field name -> value bytes in hex), carried
-- forward until the field changes: no `blobs` row and index entry per version of a counter.
-- NULL in rows written before this column existed: their values are all in `blobs`.
ALTER TABLE {schema}.checkpoints ADD COLUMN inline JSONB;
