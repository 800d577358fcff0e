//! A program's stdout and stderr, a line at a time, into the node's log: each line is an
//! `info` event with `stream` = `stdout` or `stderr`, inside the program's span (which
//! carries its process id). Bytes that are not UTF-8 are shown replaced; a line longer than
//! [`MAX_LINE`] is logged in pieces, so a program cannot make the node hold a huge line.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// The most bytes logged as one line.
pub const MAX_LINE: usize = 16 * 1024;

/// Logs each line `from` gives until it ends (the program closed it, or exited).
pub async fn forward(from: impl AsyncRead + Unpin, stream: &'static str) {
    each_line(from, |text| tracing::info!(stream, "{text}")).await;
}

/// Calls `each` with every line of `from` (its end of line trimmed), until `from` ends.
async fn each_line(from: impl AsyncRead + Unpin, mut each: impl FnMut(&str)) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) => return,
            Ok(_) => each(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r'])),
            Err(error) => {
                tracing::debug!(%error, "cannot read the program's output");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        each_line(input, |line| lines.push(line.to_owned())).await;
        lines
    }

    #[tokio::test]
    async fn every_line_is_taken_with_its_end_trimmed_and_bad_bytes_replaced() {
        assert_eq!(
            lines_of(b"first\nsecond \xff\r\nno newline at the end").await,
            ["first", "second \u{fffd}", "no newline at the end"]
        );
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_is_taken_in_pieces() {
        let mut long = vec![b'x'; MAX_LINE * 2 + 5];
        long.push(b'\n');
        let lines = lines_of(&long).await;
        let lengths: Vec<usize> = lines.iter().map(String::len).collect();
        assert_eq!(lengths, [MAX_LINE, MAX_LINE, 5]);
    }
}
