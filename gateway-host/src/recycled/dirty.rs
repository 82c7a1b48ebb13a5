//! Restores a linear memory to its image by copying back only the pages a
//! request may have written, found with Linux's `PAGEMAP_SCAN` ioctl (6.7+),
//! the way Wasmtime's pooling allocator resets a slot.
//!
//! A page that is still the image's file page, the shared zero page, or not
//! mapped at all has not been written since the memory was mapped; every
//! other page (private, present or swapped) is copied back from the image.
//! A page once restored stays private, so it is copied back after every
//! later request too: the cost follows the pages ever touched, not the bytes.

use std::fs::File;
use std::os::fd::AsRawFd as _;

/// `PAGEMAP_SCAN`: `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong = (3 << 30)
    | ((size_of::<ScanArg>() as libc::c_ulong) << 16)
    | ((b'f' as libc::c_ulong) << 8)
    | 16;

// `PAGE_IS_*` categories (linux/fs.h).
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
const PAGE_IS_PFNZERO: u64 = 1 << 5;

/// Which pages a scan reports: `mask` must all be set and one of `anyof`
/// (if any), after flipping `inverted`.
#[derive(Clone, Copy)]
struct Categories {
    inverted: u64,
    mask: u64,
    anyof: u64,
}

/// Possibly written: not the image's page, not the zero page, and mapped
/// (a page never touched is neither).
const WRITTEN: Categories = Categories {
    inverted: PAGE_IS_FILE | PAGE_IS_PFNZERO,
    mask: PAGE_IS_FILE | PAGE_IS_PFNZERO,
    anyof: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
};

/// `struct pm_scan_arg`.
#[repr(C)]
#[derive(Default)]
struct ScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// Regions returned per ioctl; more are fetched by scanning again from
/// where the kernel stopped.
const REGIONS: usize = 32;

/// This process's page map, if the kernel has `PAGEMAP_SCAN`.
pub struct PageMap(Option<File>);

impl PageMap {
    /// Opens `/proc/self/pagemap` and tries one scan; without it,
    /// [`restore`](Self::restore) copies the whole memory back.
    pub fn open() -> Self {
        let Ok(file) = File::open("/proc/self/pagemap") else {
            return PageMap(None);
        };
        let map = PageMap(Some(file));
        // An empty range at address 0: the kernel checks the arguments only.
        match map.scan(0, 0, &mut |_, _| {}) {
            Ok(()) => map,
            Err(_) => PageMap(None),
        }
    }

    /// Whether pages are found by scanning (else the whole memory is copied).
    pub fn scans(&self) -> bool {
        self.0.is_some()
    }

    /// Makes `memory` equal to `image` (same length), copying back the pages
    /// that may differ. Returns the bytes copied.
    pub fn restore(&self, memory: &mut [u8], image: &[u8]) -> usize {
        assert_eq!(memory.len(), image.len(), "restore needs the image's size");
        let base = memory.as_ptr() as u64;
        // Found before any copy, so the scan never sees a page this restore
        // wrote.
        let mut regions = Vec::new();
        let len = memory.len() as u64;
        if self
            .scan(base, len, &mut |start, end| regions.push((start, end)))
            .is_err()
        {
            // A kernel without the ioctl, or a failed scan: copy everything.
            regions = vec![(base, base + memory.len() as u64)];
        }
        let mut copied = 0;
        for (start, end) in regions {
            let (from, to) = ((start - base) as usize, (end - base) as usize);
            memory[from..to].copy_from_slice(&image[from..to]);
            copied += to - from;
        }
        copied
    }

    /// Unmaps the pages of `memory` that are mapped but unwritten (the
    /// image's file pages, the zero page), as after reading all of it for a
    /// copy: their contents come back unchanged on the next touch, and the
    /// scan after each request then walks only the pages requests use.
    pub fn release_clean(&self, memory: &mut [u8]) {
        let mut regions = Vec::new();
        let (base, len) = (memory.as_mut_ptr() as u64, memory.len() as u64);
        let clean = Categories {
            inverted: 0,
            mask: PAGE_IS_PRESENT,
            anyof: PAGE_IS_FILE | PAGE_IS_PFNZERO,
        };
        if self
            .scan_for(clean, base, len, &mut |start, end| {
                regions.push((start, end))
            })
            .is_err()
        {
            return;
        }
        for (start, end) in regions {
            // SAFETY: the range lies in `memory`, which we borrow mutably,
            // and holds only unwritten pages: dropping them loses nothing
            // (a private file page refaults from the file, an anonymous
            // one as zeros).
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    (end - start) as usize,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }

    /// Calls `found(start, end)` for every run of possibly written pages in
    /// `len` bytes from `start` (page-aligned, as a memory's base is).
    fn scan(&self, start: u64, len: u64, found: &mut dyn FnMut(u64, u64)) -> std::io::Result<()> {
        self.scan_for(WRITTEN, start, len, found)
    }

    /// Calls `found(start, end)` for every run of pages in the categories.
    fn scan_for(
        &self,
        want: Categories,
        start: u64,
        len: u64,
        found: &mut dyn FnMut(u64, u64),
    ) -> std::io::Result<()> {
        let Some(file) = &self.0 else {
            return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
        };
        let end = start + len;
        let mut start = start;
        let mut regions = [PageRegion::default(); REGIONS];
        loop {
            let mut arg = ScanArg {
                size: size_of::<ScanArg>() as u64,
                start,
                end,
                vec: regions.as_mut_ptr() as u64,
                vec_len: REGIONS as u64,
                category_inverted: want.inverted,
                category_mask: want.mask,
                category_anyof_mask: want.anyof,
                // No categories back, so neighbouring pages merge into one region.
                return_mask: 0,
                ..ScanArg::default()
            };
            // SAFETY: the ioctl reads `arg` and writes at most `vec_len`
            // regions into `regions` and `walk_end` into `arg`, both live
            // and of the kernel's layout; it only inspects page tables.
            let n = unsafe { libc::ioctl(file.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for region in &regions[..n as usize] {
                found(region.start, region.end);
            }
            // The kernel stops early when `regions` is full.
            if arg.walk_end >= end || arg.walk_end <= start {
                return Ok(());
            }
            start = arg.walk_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    /// An anonymous private mapping, as a memory beyond its image is.
    struct Mapping(*mut u8, usize);

    impl Mapping {
        fn new(len: usize) -> Self {
            // SAFETY: a fresh anonymous mapping, unmapped on drop.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(ptr, libc::MAP_FAILED);
            Mapping(ptr.cast(), len)
        }

        fn bytes(&mut self) -> &mut [u8] {
            // SAFETY: the mapping is live, owned and `self.1` long.
            unsafe { std::slice::from_raw_parts_mut(self.0, self.1) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmaps what `new` mapped.
            unsafe { libc::munmap(self.0.cast(), self.1) };
        }
    }

    #[test]
    fn restores_written_pages_and_only_those_when_it_can_scan() {
        let map = PageMap::open();
        let mut memory = Mapping::new(64 * PAGE);
        let image = vec![0u8; 64 * PAGE];
        // Read-only touches map the zero page: not written.
        assert_eq!(memory.bytes()[10 * PAGE], 0);
        memory.bytes()[3 * PAGE + 5] = 1;
        memory.bytes()[40 * PAGE] = 2;
        memory.bytes()[41 * PAGE + 4095] = 3;
        let copied = map.restore(memory.bytes(), &image);
        assert!(memory.bytes().iter().all(|&b| b == 0));
        if map.scans() {
            assert_eq!(copied, 3 * PAGE, "pages 3, 40 and 41");
        } else {
            assert_eq!(copied, 64 * PAGE);
        }
    }

    #[test]
    fn scans_past_a_full_region_buffer() {
        let map = PageMap::open();
        // Every other page written: more separate regions than one ioctl returns.
        let pages = 4 * REGIONS;
        let mut memory = Mapping::new(pages * PAGE);
        let image = vec![7u8; pages * PAGE];
        for page in (0..pages).step_by(2) {
            memory.bytes()[page * PAGE] = 1;
        }
        map.restore(memory.bytes(), &image);
        for page in (0..pages).step_by(2) {
            assert!(memory.bytes()[page * PAGE..(page + 1) * PAGE]
                .iter()
                .all(|&b| b == 7));
        }
        if map.scans() {
            // The untouched pages were not copied: still unmapped zeros.
            assert_eq!(memory.bytes()[PAGE], 0);
        }
    }
}
