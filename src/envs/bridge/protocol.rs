//! The bridge wire format (version 1, documented in `docs/bridge.md`): length-prefixed frames,
//! little-endian, one tag byte. Pure encoding and decoding, no I/O policy.

use std::io::{self, Read, Write};

use crate::check::ir::ActionSpace;

/// Protocol version spoken by this build.
pub const VERSION: u32 = 1;

/// Request: handshake (`u32 version, u32 num_envs`).
pub const HELLO: u8 = 0x01;
/// Request: reset every environment (`num_envs × u64` seeds).
pub const RESET: u8 = 0x02;
/// Request: step every environment (`num_envs × u32` or `num_envs × dim × f32` actions).
pub const STEP: u8 = 0x03;
/// Request: close the environments and exit.
pub const CLOSE: u8 = 0x04;
/// Reply to HELLO: the spaces.
pub const SPACES: u8 = 0x81;
/// Reply to RESET: first observations.
pub const RESET_OK: u8 = 0x82;
/// Reply to STEP: observations, rewards, flags, final observations.
pub const STEP_OK: u8 = 0x83;
/// Reply to anything: the adapter failed (UTF-8 message follows).
pub const ERROR: u8 = 0xFF;

/// Largest accepted frame (guards against reading garbage as a length).
pub const MAX_FRAME: u32 = 1 << 30;

/// Flag bit in STEP_OK: the episode terminated.
pub const TERMINATED: u8 = 1;
/// Flag bit in STEP_OK: the episode was truncated (time limit).
pub const TRUNCATED: u8 = 2;

/// One frame: tag and body.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Message kind.
    pub tag: u8,
    /// Payload after the tag.
    pub body: Vec<u8>,
}

/// Write one frame (`u32 len` = 1 + body length, tag, body).
pub fn write_frame(w: &mut impl Write, tag: u8, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len() + 1).map_err(|_| io::Error::other("frame too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&[tag])?;
    w.write_all(body)?;
    w.flush()
}

/// Read one frame; `UnexpectedEof` at a frame boundary means the peer closed.
pub fn read_frame(r: &mut impl Read) -> io::Result<Frame> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {len} (is the subprocess printing to stdout?)"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    let tag = buf[0];
    buf.remove(0);
    Ok(Frame { tag, body: buf })
}

/// The handshake reply: what the environments look like.
#[derive(Clone, Debug, PartialEq)]
pub struct Spaces {
    /// Protocol version the adapter speaks.
    pub version: u32,
    /// Environments this process holds.
    pub num_envs: u32,
    /// Width of the flat f32 observation.
    pub obs_dim: usize,
    /// The action space as the agent sees it.
    pub action: ActionSpace,
    /// Time limit, if the environment has one.
    pub max_steps: Option<usize>,
    /// Observation space as text (gymnasium's repr).
    pub obs_text: String,
    /// Action space as text (gymnasium's repr).
    pub action_text: String,
}

/// A little-endian cursor over a frame body.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Start at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Take `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "message too short: wanted {n} bytes at offset {}, have {}",
                self.pos,
                self.bytes.len()
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Read a `u8`.
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// Read a `u32`.
    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    /// Read an `i64`.
    pub fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Read `n` f32 values into `out` (cleared first).
    pub fn f32s_into(&mut self, n: usize, out: &mut [f32]) -> Result<(), String> {
        let raw = self.take(n * 4)?;
        for (o, c) in out[..n].iter_mut().zip(raw.chunks_exact(4)) {
            *o = f32::from_le_bytes(c.try_into().expect("4 bytes"));
        }
        Ok(())
    }

    /// Read a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|e| format!("bad UTF-8: {e}"))
    }

    /// Fail unless every byte was consumed.
    pub fn finish(&self) -> Result<(), String> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(format!(
                "{} trailing bytes in message",
                self.bytes.len() - self.pos
            ))
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Body of a HELLO request.
pub fn hello(num_envs: usize) -> Vec<u8> {
    let mut b = VERSION.to_le_bytes().to_vec();
    b.extend_from_slice(&(num_envs as u32).to_le_bytes());
    b
}

/// Body of a SPACES reply (used by tests and fake adapters; the Python adapter writes the same).
pub fn encode_spaces(s: &Spaces) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&s.version.to_le_bytes());
    b.extend_from_slice(&s.num_envs.to_le_bytes());
    b.extend_from_slice(&(s.obs_dim as u32).to_le_bytes());
    match &s.action {
        ActionSpace::Discrete(n) => {
            b.push(0);
            b.extend_from_slice(&(*n as u32).to_le_bytes());
        }
        ActionSpace::Box { dim, low, high } => {
            b.push(1);
            b.extend_from_slice(&(*dim as u32).to_le_bytes());
            for v in low.iter().chain(high) {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    let max = s.max_steps.map(|m| m as i64).unwrap_or(-1);
    b.extend_from_slice(&max.to_le_bytes());
    put_str(&mut b, &s.obs_text);
    put_str(&mut b, &s.action_text);
    b
}

/// Decode a SPACES reply.
pub fn decode_spaces(body: &[u8]) -> Result<Spaces, String> {
    let mut c = Cursor::new(body);
    let version = c.u32()?;
    if version != VERSION {
        return Err(format!(
            "adapter speaks bridge protocol version {version}, this memoraxc speaks {VERSION}"
        ));
    }
    let num_envs = c.u32()?;
    let obs_dim = c.u32()? as usize;
    let action = match c.u8()? {
        0 => ActionSpace::Discrete(c.u32()? as usize),
        1 => {
            let dim = c.u32()? as usize;
            let mut low = vec![0.0; dim];
            let mut high = vec![0.0; dim];
            c.f32s_into(dim, &mut low)?;
            c.f32s_into(dim, &mut high)?;
            ActionSpace::Box { dim, low, high }
        }
        k => return Err(format!("unknown action kind {k}")),
    };
    let max = c.i64()?;
    let obs_text = c.str()?;
    let action_text = c.str()?;
    c.finish()?;
    if obs_dim == 0 {
        return Err("observation width is 0".into());
    }
    Ok(Spaces {
        version,
        num_envs,
        obs_dim,
        action,
        max_steps: (max > 0).then_some(max as usize),
        obs_text,
        action_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_round_trip() {
        let s = Spaces {
            version: VERSION,
            num_envs: 3,
            obs_dim: 3,
            action: ActionSpace::Box {
                dim: 1,
                low: vec![-2.0],
                high: vec![f32::INFINITY],
            },
            max_steps: Some(200),
            obs_text: "Box(3)".into(),
            action_text: "Box(-2.0, 2.0, (1,), float32)".into(),
        };
        assert_eq!(decode_spaces(&encode_spaces(&s)), Ok(s.clone()));
        let mut bad = encode_spaces(&s);
        bad[0] = 9;
        assert!(decode_spaces(&bad).unwrap_err().contains("version 9"));
        let mut long = encode_spaces(&s);
        long.push(0);
        assert!(decode_spaces(&long).unwrap_err().contains("trailing"));
    }

    #[test]
    fn frames_round_trip_and_reject_garbage() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STEP, &[1, 2, 3]).unwrap();
        let f = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(
            f,
            Frame {
                tag: STEP,
                body: vec![1, 2, 3]
            }
        );
        let garbage = b"Hello world\n".to_vec();
        assert!(read_frame(&mut garbage.as_slice()).is_err());
    }
}
