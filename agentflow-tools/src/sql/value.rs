//! Database values as JSON.
//!
//! PostgreSQL rows arrive in the binary format; they are decoded here by type OID (sqlx's
//! own decoders for dates, UUIDs or numerics need Cargo features this crate does not enable,
//! and the binary formats are stable and small): integers and floats as numbers (non-finite
//! floats as strings), `numeric` and `money` as decimal strings, text types as strings,
//! `bool`, `json`/`jsonb` as JSON, dates and times as ISO 8601 strings, `interval` as an ISO
//! 8601 duration, `uuid`, `inet`/`cidr`, `macaddr` in their text forms, `bytea` as base64,
//! arrays as (nested) JSON arrays, composites as objects, enums as their labels. Anything else
//! becomes a placeholder string that tells the model to cast the column to text: never a
//! panic, whatever the bytes.

use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgTypeInfo, PgTypeKind, PgValueFormat, PgValueRef};
use sqlx::sqlite::SqliteValueRef;
use sqlx::{Decode, TypeInfo, ValueRef};

/// A PostgreSQL value as JSON.
pub(crate) fn pg_value(value: PgValueRef<'_>) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    let ty = value.type_info().into_owned();
    match value.format() {
        PgValueFormat::Text => match value.as_str() {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => placeholder(&ty),
        },
        PgValueFormat::Binary => match value.as_bytes() {
            Ok(bytes) => decode_typed(&ty, bytes).unwrap_or_else(|| placeholder(&ty)),
            Err(_) => placeholder(&ty),
        },
    }
}

/// The type's name as the model should read it (`int4`, `timestamptz`, `text[]`).
pub(crate) fn pg_type_name(ty: &PgTypeInfo) -> String {
    ty.name().to_ascii_lowercase()
}

fn placeholder(ty: &PgTypeInfo) -> Value {
    Value::String(format!(
        "<{} value: cast the column to text (::text) to read it>",
        pg_type_name(ty)
    ))
}

/// Decodes by the type's kind first (enums, composites, arrays, domains carry what is needed
/// to decode them), then by OID. `None` for malformed bytes or an unknown type.
fn decode_typed(ty: &PgTypeInfo, bytes: &[u8]) -> Option<Value> {
    match ty.kind() {
        PgTypeKind::Enum(_) => text(bytes),
        PgTypeKind::Domain(base) => decode_typed(base, bytes),
        PgTypeKind::Array(element) => array(Some(element), bytes),
        PgTypeKind::Composite(fields) => composite(Some(fields), bytes),
        PgTypeKind::Range(_) => None,
        PgTypeKind::Simple | PgTypeKind::Pseudo => match ty.oid() {
            Some(oid) => decode_oid(oid.0, bytes),
            // Types known only by name: extension types whose binary form is their text.
            None if ty.name().eq_ignore_ascii_case("citext") => text(bytes),
            None => None,
        },
    }
}

/// Built-in types by OID (`pg_type.dat`; these OIDs are fixed).
fn decode_oid(oid: u32, b: &[u8]) -> Option<Value> {
    let mut r = Reader(b);
    let v = match oid {
        16 => Value::Bool(r.u8()? != 0),
        21 => Value::from(r.i16()?),
        23 => Value::from(r.i32()?),
        20 => Value::from(r.i64()?),
        // oid, xid, cid, regproc, regclass, regtype… are unsigned 32-bit integers.
        26 | 28 | 29 | 24 | 2202 | 2203 | 2204 | 2205 | 2206 | 3734 | 3769 | 4089 | 4096 => {
            Value::from(r.u32()?)
        }
        5069 => Value::from(r.u64()?),
        700 => float(f64::from(f32::from_bits(r.u32()?))),
        701 => float(f64::from_bits(r.u64()?)),
        1700 => Value::String(numeric(b)?),
        790 => Value::String(money(r.i64()?)),
        // text, varchar, bpchar, name, xml, unknown, "char", refcursor
        25 | 1043 | 1042 | 19 | 142 | 705 | 18 | 1790 => return text(b),
        114 => return json(b),
        3802 => {
            // jsonb: a version byte (1) then the JSON text.
            if r.u8()? != 1 {
                return None;
            }
            return json(r.0);
        }
        4072 => {
            // jsonpath: a version byte then the text.
            r.u8()?;
            return text(r.0);
        }
        1082 => Value::String(date(r.i32()?)),
        1083 => Value::String(time(r.i64()?)),
        1266 => {
            let micros = r.i64()?;
            // The zone is stored in seconds west of UTC.
            let zone = r.i32()?;
            Value::String(format!("{}{}", time(micros), offset(-i64::from(zone))))
        }
        1114 => Value::String(timestamp(r.i64()?, false)),
        1184 => Value::String(timestamp(r.i64()?, true)),
        1186 => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            Value::String(interval(months, days, micros))
        }
        2950 => Value::String(uuid::Uuid::from_slice(b).ok()?.hyphenated().to_string()),
        17 => Value::String(base64(b)),
        869 | 650 => Value::String(inet(b, oid == 650)?),
        829 | 774 => Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")),
        1560 | 1562 => Value::String(bits(b)?),
        3220 => {
            let lsn = r.u64()?;
            Value::String(format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff))
        }
        2249 => return composite(None, b),
        // void (a function that returns nothing, e.g. `SELECT pg_sleep(0)` were it allowed).
        2278 => Value::Null,
        _ => return None,
    };
    Some(v)
}

fn text(bytes: &[u8]) -> Option<Value> {
    Some(Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn json(bytes: &[u8]) -> Option<Value> {
    // Invalid JSON cannot come from the server, but never fail on it: keep the text.
    Some(
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
    )
}

fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        // NaN and infinities have no JSON number.
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// A big-endian reader that returns `None` instead of panicking on short input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }

    /// A length-prefixed field: `None` inside for SQL NULL (length -1).
    fn field(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.i32()?;
        if len < 0 {
            return Some(None);
        }
        self.take(usize::try_from(len).ok()?).map(Some)
    }
}

/// `numeric`: base-10000 digits with a weight (the power of the first digit), a sign and a
/// display scale.
fn numeric(b: &[u8]) -> Option<String> {
    let mut r = Reader(b);
    let ndigits = usize::try_from(r.i16()?).ok()?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = usize::from(r.u16()?);
    let digits: Vec<i16> = (0..ndigits).map(|_| r.i16()).collect::<Option<_>>()?;
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                out.push_str(&digit(i).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Some(out)
}

/// `money`: an integer number of cents (assumes the usual two fractional digits of
/// `lc_monetary`).
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn civil(days_since_epoch: i64) -> (i64, u32, u32) {
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// PostgreSQL counts dates and timestamps from 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

fn format_date(days_since_pg_epoch: i64) -> String {
    let (y, m, d) = civil(days_since_pg_epoch + PG_EPOCH_DAYS);
    if (0..=9999).contains(&y) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        // ISO 8601 expanded years (astronomical numbering: 1 BC is year 0).
        format!("{y:+05}-{m:02}-{d:02}")
    }
}

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        _ => format_date(i64::from(days)),
    }
}

fn time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

fn offset(seconds_east: i64) -> String {
    let sign = if seconds_east < 0 { '-' } else { '+' };
    let abs = seconds_east.abs();
    let mut out = format!("{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
    if abs % 60 != 0 {
        out.push_str(&format!(":{:02}", abs % 60));
    }
    out
}

fn timestamp(micros: i64, utc: bool) -> String {
    match micros {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    // timestamptz is sent in UTC, whatever the session's time zone.
    let zone = if utc { "Z" } else { "" };
    format!("{}T{}{zone}", format_date(days), time(rest))
}

/// An ISO 8601 duration with PostgreSQL's sign conventions (`P1Y2M3DT4H5M6.5S`, `P-1D`).
fn interval(months: i32, days: i32, micros: i64) -> String {
    if months == 0 && days == 0 && micros == 0 {
        return "PT0S".into();
    }
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if micros != 0 {
        out.push('T');
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let (h, m, s, frac) = (
            abs / 3_600_000_000,
            abs / 60_000_000 % 60,
            abs / 1_000_000 % 60,
            abs % 1_000_000,
        );
        if h != 0 {
            out.push_str(&format!("{sign}{h}H"));
        }
        if m != 0 {
            out.push_str(&format!("{sign}{m}M"));
        }
        if s != 0 || frac != 0 {
            out.push_str(&format!("{sign}{s}"));
            if frac != 0 {
                out.push('.');
                out.push_str(format!("{frac:06}").trim_end_matches('0'));
            }
            out.push('S');
        }
    }
    out
}

fn inet(b: &[u8], cidr: bool) -> Option<String> {
    let mut r = Reader(b);
    let family = r.u8()?;
    let bits = r.u8()?;
    let _is_cidr = r.u8()?;
    let len = usize::from(r.u8()?);
    let addr = r.take(len)?;
    let (ip, max) = match family {
        2 => (std::net::IpAddr::from(<[u8; 4]>::try_from(addr).ok()?), 32),
        3 => (std::net::IpAddr::from(<[u8; 16]>::try_from(addr).ok()?), 128),
        _ => return None,
    };
    Some(if cidr || bits != max {
        format!("{ip}/{bits}")
    } else {
        ip.to_string()
    })
}

fn bits(b: &[u8]) -> Option<String> {
    let mut r = Reader(b);
    let len = usize::try_from(r.i32()?).ok()?;
    let data = r.0;
    if data.len() * 8 < len {
        return None;
    }
    Some(
        (0..len)
            .map(|i| {
                if data[i / 8] & (0x80 >> (i % 8)) != 0 {
                    '1'
                } else {
                    '0'
                }
            })
            .collect(),
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes one element or field: by its type info when known, else by the OID in the data.
fn decode_element(ty: Option<&PgTypeInfo>, oid: u32, bytes: Option<&[u8]>) -> Value {
    let Some(bytes) = bytes else { return Value::Null };
    let decoded = match ty {
        Some(ty) => decode_typed(ty, bytes),
        None => decode_oid(oid, bytes),
    };
    decoded
        .unwrap_or_else(|| Value::String(format!("<type {oid} value: cast it to text (::text) to read it>")))
}

/// The binary array format: dimensions, lower bounds, then the elements in row-major order.
fn array(element: Option<&PgTypeInfo>, b: &[u8]) -> Option<Value> {
    let mut r = Reader(b);
    let ndim = usize::try_from(r.i32()?).ok()?;
    let _has_nulls = r.i32()?;
    let element_oid = r.u32()?;
    if ndim == 0 {
        return Some(Value::Array(Vec::new()));
    }
    // PostgreSQL allows at most 6 dimensions.
    if ndim > 6 {
        return None;
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        dims.push(usize::try_from(r.i32()?).ok()?);
        let _lower_bound = r.i32()?;
    }
    let total = dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d))?;
    let mut flat = Vec::with_capacity(total.min(1 << 16));
    for _ in 0..total {
        flat.push(decode_element(element, element_oid, r.field()?));
    }
    Some(nest(&dims, &mut flat.into_iter()))
}

fn nest(dims: &[usize], items: &mut impl Iterator<Item = Value>) -> Value {
    match dims {
        [] | [_] => Value::Array(items.take(dims.first().copied().unwrap_or(0)).collect()),
        [n, rest @ ..] => Value::Array((0..*n).map(|_| nest(rest, items)).collect()),
    }
}

/// The binary record format: a field count, then each field's type OID and value. Named
/// fields (a composite type) become an object, anonymous ones (`ROW(1, 'a')`) an array.
fn composite(fields: Option<&[(String, PgTypeInfo)]>, b: &[u8]) -> Option<Value> {
    let mut r = Reader(b);
    let count = usize::try_from(r.i32()?).ok()?;
    let mut values = Vec::with_capacity(count.min(1600));
    for i in 0..count {
        let oid = r.u32()?;
        let ty = fields.and_then(|f| f.get(i)).map(|(_, ty)| ty);
        values.push(decode_element(ty, oid, r.field()?));
    }
    Some(match fields {
        Some(fields) if fields.len() == values.len() => Value::Object(
            fields
                .iter()
                .map(|(name, _)| name.clone())
                .zip(values)
                .collect::<Map<_, _>>(),
        ),
        _ => Value::Array(values),
    })
}

/// A SQLite value as JSON, by its storage class, and whether it was shortened. `declared` is
/// the column's declared type: integers of a BOOLEAN column become booleans. Text and blobs
/// are read in place and only their first `max_chars` characters copied, so a large value is
/// not copied whole again.
pub(crate) fn sqlite_value(value: SqliteValueRef<'_>, declared: &str, max_chars: usize) -> (Value, bool) {
    if value.is_null() {
        return (Value::Null, false);
    }
    let storage = value.type_info().name().to_owned();
    let whole = |v: Value| (v, false);
    match storage.as_str() {
        "INTEGER" | "BOOLEAN" => whole(match <i64 as Decode<sqlx::Sqlite>>::decode(value) {
            Ok(n) if declared.eq_ignore_ascii_case("BOOLEAN") && (n == 0 || n == 1) => Value::Bool(n == 1),
            Ok(n) => Value::from(n),
            Err(_) => Value::Null,
        }),
        "REAL" => whole(
            <f64 as Decode<sqlx::Sqlite>>::decode(value)
                .map(float)
                .unwrap_or(Value::Null),
        ),
        "BLOB" => match <&[u8] as Decode<sqlx::Sqlite>>::decode(value) {
            Ok(bytes) => {
                let total_chars = bytes.len().div_ceil(3) * 4;
                // Three bytes make four base64 characters.
                let head = &bytes[..bytes.len().min(max_chars.div_ceil(4) * 3)];
                let (text, shortened) = shortened_to(&base64(head), max_chars, total_chars);
                (Value::String(text), shortened)
            }
            Err(_) => whole(Value::Null),
        },
        _ => match <&str as Decode<sqlx::Sqlite>>::decode(value) {
            Ok(text) => match text.char_indices().nth(max_chars) {
                Some(_) => {
                    let (text, shortened) = shortened_to(text, max_chars, text.chars().count());
                    (Value::String(text), shortened)
                }
                None => whole(Value::String(text.to_owned())),
            },
            Err(_) => whole(Value::String(format!("<{storage} value>"))),
        },
    }
}

/// `text` cut to `max_chars` characters and marked with `total_chars` if it was longer.
fn shortened_to(text: &str, max_chars: usize, total_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => (
            format!("{}… [shortened, {total_chars} characters in all]", &text[..cut]),
            true,
        ),
        None if total_chars > max_chars => (
            format!("{text}… [shortened, {total_chars} characters in all]"),
            true,
        ),
        None => (text.to_owned(), false),
    }
}

/// Shortens strings longer than `max_chars` (recursively, in arrays and objects); returns
/// whether anything was shortened.
pub(crate) fn shorten(value: &mut Value, max_chars: usize) -> bool {
    match value {
        Value::String(s) => {
            let total = s.chars().count();
            let (text, shortened) = shortened_to(s, max_chars, total);
            if shortened {
                // A new string: the result keeps only what is left of the value.
                *s = text;
            }
            shortened
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, v| shorten(v, max_chars) | any),
        Value::Object(map) => map.values_mut().fold(false, |any, v| shorten(v, max_chars) | any),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics() {
        // 12345.678: digits [1, 2345, 6780], weight 1, dscale 3.
        let mut b = Vec::new();
        for x in [3i16, 1, 0, 3] {
            b.extend(x.to_be_bytes());
        }
        for d in [1i16, 2345, 6780] {
            b.extend(d.to_be_bytes());
        }
        assert_eq!(numeric(&b).as_deref(), Some("12345.678"));
        // -0.0012: digits [12], weight -1, dscale 4.
        let mut b = Vec::new();
        for x in [1i16, -1] {
            b.extend(x.to_be_bytes());
        }
        b.extend(0x4000u16.to_be_bytes());
        b.extend(4u16.to_be_bytes());
        b.extend(12i16.to_be_bytes());
        assert_eq!(numeric(&b).as_deref(), Some("-0.0012"));
        assert_eq!(numeric(&[0, 1]), None);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(9190), "2025-02-28");
        assert_eq!(timestamp(0, true), "2000-01-01T00:00:00Z");
        assert_eq!(timestamp(-1, false), "1999-12-31T23:59:59.999999");
        assert_eq!(time(3_723_500_000), "01:02:03.5");
        assert_eq!(offset(-5 * 3600 - 30 * 60), "-05:30");
        assert_eq!(interval(14, 3, 3_723_500_000), "P1Y2M3DT1H2M3.5S");
        assert_eq!(interval(0, -1, 0), "P-1D");
        assert_eq!(interval(0, 0, 0), "PT0S");
    }

    #[test]
    fn misc() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(money(-1234), "-12.34");
        assert_eq!(
            inet(&[2, 32, 0, 4, 10, 0, 0, 1], false).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            inet(&[2, 8, 1, 4, 10, 0, 0, 0], true).as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(float(f64::NAN), Value::String("NaN".into()));
        let mut v = serde_json::json!(["ab", "abcdef", {"k": "xyz1"}]);
        assert!(shorten(&mut v, 3));
        assert_eq!(v[0], "ab");
        assert_eq!(v[1], "abc… [shortened, 6 characters in all]");
        assert_eq!(shortened_to("abcdef", 10, 6), ("abcdef".to_owned(), false));
        // Garbage never panics.
        for oid in [16, 20, 1700, 1082, 1114, 1186, 2950, 869, 1560, 2249, 3802] {
            assert_eq!(decode_oid(oid, &[]), None, "{oid}");
        }
        assert_eq!(
            array(
                None,
                &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0x7f, 0xff, 0xff, 0xff]
            ),
            None
        );
    }
}
