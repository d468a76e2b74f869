//! Reading small `/proc` files around the fork with plain `open` and
//! `read` into the caller's buffer: no lock taken, nothing allocated
//! (rules 15 and 16).

use core::ffi::CStr;

/// Reads the small file at `path` into `buf` with plain system calls;
/// the bytes read, `None` if it cannot be opened or read.
pub(super) fn read_file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `path` is a valid NUL-terminated string; the descriptor is
    // ours and closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut got = 0;
    let ok = loop {
        let rest = &mut buf[got..];
        if rest.is_empty() {
            break true;
        }
        // SAFETY: reads into the unfilled rest of a valid buffer.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match n {
            0 => break true,
            n if n > 0 => got += n as usize,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break false,
        }
    };
    // SAFETY: closes the descriptor opened above, once.
    unsafe { libc::close(fd) };
    ok.then_some(got)
}
