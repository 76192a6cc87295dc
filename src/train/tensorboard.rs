//! TensorBoard event files (the documented TFRecord + `Event` protobuf format), scalars only.
//!
//! Each record is `len: u64 LE | masked_crc32c(len) | data | masked_crc32c(data)`; `data` is an
//! `Event { wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
//! summary = 5 { value = 1 { tag = 1 (string), simple_value = 2 (float) } } }`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes scalar summaries to `events.out.tfevents.<time>.memoraxc`.
pub struct EventWriter {
    out: BufWriter<File>,
}

impl EventWriter {
    /// Create an event file in `dir`.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let file = File::create(dir.join(format!("events.out.tfevents.{secs}.memoraxc")))?;
        let mut w = EventWriter {
            out: BufWriter::new(file),
        };
        let mut ev = Vec::new();
        put_double(&mut ev, 1, now());
        put_bytes(&mut ev, 3, b"brain.Event:2");
        w.record(&ev)?;
        Ok(w)
    }

    /// Append scalars at `step`.
    pub fn scalars(&mut self, step: u64, values: &[(String, f64)]) -> std::io::Result<()> {
        let mut summary = Vec::new();
        for (tag, v) in values {
            let mut val = Vec::new();
            put_bytes(&mut val, 1, tag.as_bytes());
            val.push((2 << 3) | 5); // field 2, fixed32
            val.extend_from_slice(&(*v as f32).to_le_bytes());
            put_bytes(&mut summary, 1, &val);
        }
        let mut ev = Vec::new();
        put_double(&mut ev, 1, now());
        ev.push(2 << 3); // field 2, varint
        put_varint(&mut ev, step);
        put_bytes(&mut ev, 5, &summary);
        self.record(&ev)?;
        self.out.flush()
    }

    fn record(&mut self, data: &[u8]) -> std::io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_double(buf: &mut Vec<u8>, field: u64, v: f64) {
    buf.push(((field << 3) | 1) as u8);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, field: u64, data: &[u8]) {
    put_varint(buf, (field << 3) | 2);
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// CRC-32C (Castagnoli), bitwise.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // RFC 3720 check value for "123456789"
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn event_records_are_framed() {
        let dir = std::env::temp_dir().join(format!("mx-tb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = EventWriter::create(&dir).unwrap();
        w.scalars(10, &[("return".into(), 1.5)]).unwrap();
        drop(w);
        let path = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let bytes = std::fs::read(path).unwrap();
        // walk the records and verify every length and data checksum
        let mut at = 0;
        let mut records = 0;
        while at < bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            let lcrc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(lcrc, masked_crc(&bytes[at..at + 8]));
            let data = &bytes[at + 12..at + 12 + len];
            let dcrc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(dcrc, masked_crc(data));
            at += 16 + len;
            records += 1;
        }
        assert_eq!(records, 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
