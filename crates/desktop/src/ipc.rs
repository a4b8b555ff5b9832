//! The local socket between the tray process and the processes that talk to
//! it: the dialer window (`homeline-window`) and a second launch handing
//! over its arguments (single instance). One JSON message per line.
//!
//! The socket lives in `$XDG_RUNTIME_DIR` (private to the user), named after
//! the user's config folder, so one instance runs per config folder (tests
//! and a second user each get their own). Every connection's peer must be
//! the same user.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lines longer than this are refused (a vCard import is the largest
/// message: 8 MB, escaped).
pub const MAX_LINE: usize = 24 * 1024 * 1024;

/// Sent by the window and by a second launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToHost {
    /// The first line of every connection: who is calling.
    Hello(Hello),
    /// A UI command (the Tauri `invoke` name and its arguments).
    Call { id: u64, cmd: String, args: Value },
    /// The window gained (`true`) or lost the keyboard focus.
    Focus(bool),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Hello {
    /// The dialer window's process; commands and events follow.
    Window,
    /// A second launch (the menu, a clicked link): its arguments. Answered
    /// with `ToLaunch`, then closed.
    Launch { args: Vec<String> },
}

/// Sent to the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToWindow {
    /// The answer to `ToHost::Call` with the same id: `Ok` resolves the
    /// UI's promise, `Err` rejects it (an `EngineError`).
    Reply { id: u64, result: Result<Value, Value> },
    /// A Tauri event for the UI (`engine`, `update`, …).
    Event { name: String, payload: Value },
    /// Come to the front.
    Show,
}

/// Sent to a second launch once its arguments were taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToLaunch {
    Done,
}

/// The socket of the instance that uses `config_dir`.
pub fn socket_path(config_dir: &Path) -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_dir());
    let dir = runtime.unwrap_or_else(|| std::env::temp_dir().join(format!("homeline-{}", uid())));
    dir.join(format!("homeline-{:016x}.sock", fnv1a(config_dir.as_os_str().as_encoded_bytes())))
}

/// The user this process runs as (the owner of /proc/self).
pub fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// One message as a line.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

/// A line as a message; a clear sentence for anything else.
pub fn decode<'a, T: Deserialize<'a>>(line: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(line).map_err(|e| format!("a message that is not Homeline's ({e})"))
}

/// Read one line (without its newline) of at most `MAX_LINE` bytes; `None`
/// at the end of the stream.
pub fn read_line_blocking(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let read = std::io::Read::take(&mut *reader, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    finish_line(line, read)
}

/// What was read: `None` at the end of the stream; the line without its newline.
fn finish_line(mut line: Vec<u8>, read: usize) -> std::io::Result<Option<Vec<u8>>> {
    if read == 0 {
        return Ok(None);
    }
    if line.len() > MAX_LINE {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "message too long"));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(Some(line))
}

/// The async form of `read_line_blocking`.
pub async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    let read = tokio::io::AsyncReadExt::take(&mut *reader, MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await?;
    finish_line(line, read)
}

/// A second launch: hand `args` to the running instance. `Ok(false)`: no
/// instance runs (nobody listens on the socket).
pub fn hand_over(socket: &Path, args: &[String]) -> std::io::Result<bool> {
    let stream = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => return Ok(false),
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    (&stream).write_all(&encode(&ToHost::Hello(Hello::Launch { args: args.to_vec() })))?;
    let mut reader = std::io::BufReader::new(&stream);
    match read_line_blocking(&mut reader)? {
        Some(line) => decode::<ToLaunch>(&line).map(|_| true).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        None => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the running Homeline closed the connection")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_as_sent() {
        let call = ToHost::Call { id: 7, cmd: "dial".into(), args: serde_json::json!({"target": "2002", "account": null}) };
        let line = encode(&call);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(decode::<ToHost>(&line[..line.len() - 1]).unwrap(), call);
        let reply = ToWindow::Reply { id: 7, result: Err(serde_json::json!({"code": "invalidTarget"})) };
        assert_eq!(decode::<ToWindow>(&encode(&reply)).unwrap(), reply);
        assert_eq!(decode::<ToWindow>(br#""show""#).unwrap(), ToWindow::Show);
    }

    #[test]
    fn garbage_and_oversized_lines_are_refused_in_words() {
        assert!(decode::<ToHost>(b"{\"call\":").unwrap_err().contains("not Homeline's"));
        assert!(decode::<ToHost>(b"\xff\xfe").is_err());
        let mut big = vec![b'x'; MAX_LINE + 10];
        big.push(b'\n');
        let mut reader = std::io::Cursor::new(big);
        assert!(read_line_blocking(&mut reader).is_err());
        let mut two = std::io::Cursor::new(b"a\nb".to_vec());
        assert_eq!(read_line_blocking(&mut two).unwrap().unwrap(), b"a");
        assert_eq!(read_line_blocking(&mut two).unwrap().unwrap(), b"b");
        assert_eq!(read_line_blocking(&mut two).unwrap(), None);
    }

    #[test]
    fn each_config_folder_has_its_own_socket() {
        let a = socket_path(Path::new("/home/a/.config/homeline"));
        let b = socket_path(Path::new("/home/b/.config/homeline"));
        assert_ne!(a, b);
        assert_eq!(a, socket_path(Path::new("/home/a/.config/homeline")));
        assert!(a.as_os_str().len() < 100, "fits a socket address: {a:?}");
    }
}
