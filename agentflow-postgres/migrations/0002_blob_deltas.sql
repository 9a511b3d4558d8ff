-- Append fields are stored as deltas: a blob may extend an earlier version of its field.
ALTER TABLE {schema}.blobs ADD COLUMN base_version BIGINT;
