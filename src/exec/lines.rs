//! Turning a byte stream into bounded batches of complete lines.
//!
//! [`LineSplitter`] owns the read buffer of one pipe: the reader appends raw bytes to
//! [`LineSplitter::buffer`], then [`LineSplitter::take_lines`] returns every complete
//! line seen so far as one batch (one `Output` event per read, not one per line).
//!
//! Invariants:
//! - Every batch is non-empty and every line in it ends with `\n`.
//! - The pending partial line never reaches `max_line` bytes once `take_lines`
//!   returns: longer lines are flushed in pieces of at most `max_line` bytes (plus the
//!   added `\n`), each cut at a UTF-8 character boundary when the bytes are UTF-8.
//!   Memory per pipe is therefore bounded by about `max_line` plus the read size
//!   (at most [`BULK_READ_SIZE`]). (A line that arrives complete in one read is kept
//!   whole, so it may be up to that long.)
//! - A lone `\r` (not followed by `\n`) is a line break and is rewritten to `\n`, so
//!   progress bars don't overwrite a consumer's line prefix; `\r\n` is left alone.
//! - Bytes are otherwise passed through untouched (invalid UTF-8 included).
//!
//! Pure: no I/O, so it is unit-tested here.

use std::mem;

/// Longest line kept whole; longer lines are flushed in pieces.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes made available for each read: a default pipe's capacity.
pub const READ_SIZE: usize = 64 * 1024;
/// Bytes made available for each read from a task that keeps its pipe full.
pub const BULK_READ_SIZE: usize = 256 * 1024;

#[derive(Debug)]
pub struct LineSplitter {
    /// Pending bytes: the start of an unfinished line, plus bytes just read.
    buf: Vec<u8>,
    /// `buf[..scanned]` holds no line break (a trailing `\r` is never counted as
    /// scanned: whether it is lone depends on the next byte).
    scanned: usize,
    max_line: usize,
    /// Spare capacity made available for each read.
    read_size: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(MAX_LINE)
    }
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        assert!(max_line >= 4, "a line piece must hold one UTF-8 character");
        LineSplitter { buf: Vec::new(), scanned: 0, max_line, read_size: READ_SIZE }
    }

    /// Reads from now on are offered `read_size` bytes (at most [`BULK_READ_SIZE`]).
    pub fn set_read_size(&mut self, read_size: usize) {
        self.read_size = read_size.min(BULK_READ_SIZE);
    }

    /// The buffer to append freshly read bytes to, with at least the read size of
    /// spare capacity.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        self.buf.reserve(self.read_size);
        &mut self.buf
    }

    /// Appends `data` and returns the complete lines (convenience for tests and
    /// callers that already hold the bytes).
    pub fn push(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.buf.extend_from_slice(data);
        self.take_lines()
    }

    /// All complete lines in the buffer (and pieces of an over-long line), if any.
    pub fn take_lines(&mut self) -> Option<Vec<u8>> {
        let end = self.scan(false);
        let pieces = self.buf.len() - end >= self.max_line;
        if end == 0 && !pieces {
            return None;
        }
        let mut out = self.split_front(end);
        if pieces {
            self.cut_pieces(&mut out);
        }
        Some(out)
    }

    /// End of stream: the rest, if any, as a final line terminated by `\n`.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let end = self.scan(true);
        let mut out = self.split_front(end);
        if self.buf.len() >= self.max_line {
            self.cut_pieces(&mut out);
        }
        if !self.buf.is_empty() {
            out.extend_from_slice(&self.buf);
            out.push(b'\n');
        }
        self.buf = Vec::new();
        self.scanned = 0;
        (!out.is_empty()).then_some(out)
    }

    /// Rewrites lone `\r`s past `scanned` to `\n` and returns the end of the last line
    /// break (0 if none). At `eof` a trailing `\r` is lone.
    fn scan(&mut self, eof: bool) -> usize {
        let start = self.scanned;
        let new = &self.buf[start..];
        let mut end = 0;
        if memchr::memchr(b'\r', new).is_none() {
            if let Some(i) = memchr::memrchr(b'\n', new) {
                end = start + i + 1;
            }
        } else {
            let len = self.buf.len();
            let mut i = start;
            while let Some(j) = memchr::memchr2(b'\n', b'\r', &self.buf[i..]) {
                let at = i + j;
                if self.buf[at] == b'\r' {
                    if at + 1 == len && !eof {
                        // Undecided until the next byte arrives.
                        self.scanned = at;
                        return end;
                    }
                    if at + 1 == len || self.buf[at + 1] != b'\n' {
                        self.buf[at] = b'\n';
                        end = at + 1;
                    }
                } else {
                    end = at + 1;
                }
                i = at + 1;
            }
        }
        self.scanned = self.buf.len();
        end
    }

    /// Removes and returns `buf[..end]`, keeping the rest as the pending line. Hands
    /// over the buffer itself when it is mostly lines (no copy), else copies the lines
    /// out, so a batch never carries much more capacity than it uses.
    fn split_front(&mut self, end: usize) -> Vec<u8> {
        self.scanned -= end;
        if end == 0 {
            return Vec::new();
        }
        if end * 2 >= self.buf.capacity() {
            let mut rest = Vec::with_capacity(self.read_size + self.buf.len() - end);
            rest.extend_from_slice(&self.buf[end..]);
            let mut out = mem::replace(&mut self.buf, rest);
            out.truncate(end);
            out
        } else {
            let out = self.buf[..end].to_vec();
            self.buf.drain(..end);
            out
        }
    }

    /// Moves pieces of at most `max_line` bytes, each ending in `\n`, from the pending
    /// line to `out` until the pending line is shorter than `max_line`.
    fn cut_pieces(&mut self, out: &mut Vec<u8>) {
        let mut from = 0;
        while self.buf.len() - from >= self.max_line {
            let cut = utf8_cut(&self.buf[from..], self.max_line);
            out.extend_from_slice(&self.buf[from..from + cut]);
            out.push(b'\n');
            from += cut;
        }
        self.buf.drain(..from);
        self.scanned = self.scanned.saturating_sub(from);
    }
}

/// The largest cut `<= max` (and `>= max - 3`) that does not split a UTF-8 encoded
/// character of `bytes`. Bytes that are not UTF-8 are cut at `max`.
pub fn utf8_cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    // Look back at most 3 bytes for the lead byte of the character that `max` is in.
    for back in 1..=3.min(max) {
        let b = bytes[max - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte
        }
        let width = match b {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if width > back { max - back } else { max };
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(batches: &[Option<Vec<u8>>]) -> Vec<String> {
        batches
            .iter()
            .flatten()
            .flat_map(|b| b.split_inclusive(|c| *c == b'\n').map(|l| String::from_utf8_lossy(l).into_owned()))
            .collect()
    }

    #[test]
    fn complete_lines_come_in_one_batch_per_push() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"a\nbb\ncc"), Some(b"a\nbb\n".to_vec()));
        assert_eq!(s.push(b"c\n"), Some(b"ccc\n".to_vec()));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn partial_line_waits_for_its_end() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"hel"), None);
        assert_eq!(s.push(b"lo"), None);
        assert_eq!(s.push(b" world\nx"), Some(b"hello world\n".to_vec()));
        assert_eq!(s.finish(), Some(b"x\n".to_vec()));
    }

    #[test]
    fn final_partial_line_gets_a_newline() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"no newline"), None);
        assert_eq!(s.finish(), Some(b"no newline\n".to_vec()));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn empty_lines_are_kept() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"\n\n"), Some(b"\n\n".to_vec()));
    }

    #[test]
    fn lone_carriage_return_is_a_line_break() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"10%\r20%\r30%\n"), Some(b"10%\n20%\n30%\n".to_vec()));
    }

    #[test]
    fn crlf_is_left_alone() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"a\r\nb\r\n"), Some(b"a\r\nb\r\n".to_vec()));
    }

    #[test]
    fn carriage_return_at_end_of_read_waits_for_next_byte() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"a\r"), None);
        assert_eq!(s.push(b"\nb\r"), Some(b"a\r\n".to_vec()));
        assert_eq!(s.push(b"c"), Some(b"b\n".to_vec()));
        assert_eq!(s.push(b"\r"), None);
        assert_eq!(s.finish(), Some(b"c\n".to_vec()));
    }

    #[test]
    fn long_line_is_flushed_in_bounded_pieces() {
        let mut s = LineSplitter::new(10);
        assert_eq!(s.push(b"0123456"), None);
        assert_eq!(s.push(b"789abcdefghijklmnopq"), Some(b"0123456789\nabcdefghij\n".to_vec()));
        assert_eq!(s.push(b"rs\nt"), Some(b"klmnopqrs\n".to_vec()));
        assert_eq!(s.finish(), Some(b"t\n".to_vec()));
    }

    #[test]
    fn pending_line_stays_below_max() {
        let mut s = LineSplitter::new(16);
        for _ in 0..1000 {
            let _ = s.push(b"abcdefg");
            assert!(s.buf.len() < 16);
        }
    }

    #[test]
    fn pieces_are_cut_at_utf8_boundaries() {
        // "é" is 2 bytes, "€" 3, "😀" 4: no piece may split one.
        let text = "aé€😀".repeat(50);
        let mut s = LineSplitter::new(7);
        let mut batches = vec![s.push(text.as_bytes())];
        batches.push(s.finish());
        let pieces = lines(&batches);
        for p in &pieces {
            assert!(!p.contains('\u{FFFD}'), "piece {p:?} splits a character");
            assert!(p.len() <= 8);
        }
        let joined: String = pieces.iter().map(|p| p.trim_end_matches('\n')).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn invalid_utf8_passes_through_as_bytes() {
        let mut s = LineSplitter::new(4);
        let data = [0xff, 0xfe, 0x80, 0x80, 0x80, 0x80];
        let mut out = s.push(&data).unwrap_or_default();
        out.extend(s.finish().unwrap_or_default());
        assert_eq!(out, [0xff, 0xfe, 0x80, 0x80, b'\n', 0x80, 0x80, b'\n']);
    }

    #[test]
    fn utf8_cut_backs_off_only_for_split_characters() {
        assert_eq!(utf8_cut(b"abcdef", 4), 4);
        assert_eq!(utf8_cut("ab€".as_bytes(), 3), 2);
        assert_eq!(utf8_cut("ab€".as_bytes(), 4), 2);
        assert_eq!(utf8_cut("ab€x".as_bytes(), 5), 5);
        assert_eq!(utf8_cut(b"ab", 4), 2);
    }

    #[test]
    fn chunking_does_not_change_the_lines() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("line {i} {}\r\n{}\r", "x".repeat(i % 40), i).into_bytes())
            .collect();
        let whole = {
            let mut s = LineSplitter::new(64);
            let mut v = vec![s.push(&text)];
            v.push(s.finish());
            lines(&v)
        };
        for chunk in [1, 2, 3, 7, 64, 65, 1000] {
            let mut s = LineSplitter::new(64);
            let mut v: Vec<_> = text.chunks(chunk).map(|c| s.push(c)).collect();
            v.push(s.finish());
            assert_eq!(lines(&v), whole, "chunk size {chunk}");
        }
        assert!(whole.iter().all(|l| l.ends_with('\n') && l.len() <= 65));
    }

    #[test]
    fn buffer_appends_are_scanned() {
        let mut s = LineSplitter::default();
        s.buffer().extend_from_slice(b"one\ntw");
        assert!(s.buffer().capacity() - s.buf.len() >= READ_SIZE);
        assert_eq!(s.take_lines(), Some(b"one\n".to_vec()));
        s.buffer().extend_from_slice(b"o\n");
        assert_eq!(s.take_lines(), Some(b"two\n".to_vec()));
        s.set_read_size(BULK_READ_SIZE);
        assert!(s.buffer().capacity() - s.buf.len() >= BULK_READ_SIZE);
    }
}
