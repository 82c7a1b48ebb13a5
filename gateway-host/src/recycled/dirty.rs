//! Restores a linear memory to its image by copying back only the pages a
//! request may have written, found with Linux's `PAGEMAP_SCAN` ioctl (6.7+),
//! the way Wasmtime's pooling allocator resets a slot.
//!
//! A page that is still the image's file page, the shared zero page, or not
//! mapped at all has not been written since the memory was mapped; every
//! other page (private, present or swapped) is copied back from the image.
//! A page once restored stays private, so it is put back after every later
//! request too: the cost follows the pages ever touched, not the bytes.
//!
//! The scan walks every page table entry of the memory, which costs more
//! than the restore itself, so a [`Restorer`] skips it when it can prove no
//! new page became private: a page stops being the image's, or the zero
//! page, only through a page fault on the first write to it (by the module,
//! or by the kernel on its behalf), and every fault of the thread is counted
//! (`getrusage(RUSAGE_THREAD)`). When the thread took no fault since the
//! last restore, the private pages are the ones that scan found, and only
//! those are put back. Any fault, for whatever reason, means a full scan.
//! One other way a page becomes private is khugepaged folding a range into
//! a huge page, filling its untouched pages with zeros, from another
//! thread; so the memory is marked `MADV_NOHUGEPAGE` first, and if that
//! fails the scan is never skipped.

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

/// The granule of a restore: the smallest page size Linux has.
const PAGE: usize = 4096;

static ZEROS: [u8; PAGE] = [0; PAGE];

/// A memory's contents to restore: its non-zero pages, copied; the zero
/// ones (most of a module's: its stack, its heap, its `.bss`) only known.
pub struct Image {
    len: usize,
    /// Per page: where its copy starts in `copies`, or `None` for zeros.
    pages: Vec<Option<usize>>,
    copies: Vec<u8>,
}

impl Image {
    pub fn of(memory: &[u8]) -> Self {
        let mut copies = Vec::new();
        let pages = memory
            .chunks(PAGE)
            .map(|page| {
                // Compared with a zero page: `memcmp`, not a byte loop.
                if page == &ZEROS[..page.len()] {
                    return None;
                }
                copies.extend_from_slice(page);
                Some(copies.len() - page.len())
            })
            .collect();
        Image {
            len: memory.len(),
            pages,
            copies,
        }
    }

    /// Puts back `from..to` of `memory` (page-aligned) page by page;
    /// returns the bytes written.
    fn put_back(&self, memory: &mut [u8], from: usize, to: usize) -> usize {
        for page in (from..to).step_by(PAGE) {
            let page = page..(page + PAGE).min(to);
            match self.pages[page.start / PAGE] {
                // Writes only: no read of a (likely cold) copy.
                None => memory[page].fill(0),
                Some(at) => {
                    let len = page.len();
                    memory[page].copy_from_slice(&self.copies[at..at + len]);
                }
            }
        }
        to - from
    }
}

/// Puts one memory back to its [`Image`] after each request.
pub struct Restorer {
    image: Image,
    /// The private pages the last scan found, as offsets into the memory.
    known: Vec<(usize, usize)>,
    /// The thread and its fault count when the last restore began.
    faults_then: Option<(std::thread::ThreadId, u64)>,
    /// Whether the scan may be skipped at all (see the module's doc).
    may_skip: bool,
}

/// What one restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Bytes of memory written back.
    pub bytes: usize,
    /// Whether the page tables were scanned (else the known pages sufficed).
    pub scanned: bool,
}

impl Restorer {
    /// A restorer of `memory`, whose contents now are `image`.
    pub fn new(image: Image, memory: &mut [u8]) -> Self {
        // SAFETY: only changes how the kernel may back the range, which
        // lies in `memory`, borrowed mutably; its contents stay.
        let rc = unsafe {
            libc::madvise(
                memory.as_mut_ptr().cast(),
                memory.len(),
                libc::MADV_NOHUGEPAGE,
            )
        };
        Restorer {
            image,
            known: Vec::new(),
            faults_then: None,
            may_skip: rc == 0,
        }
    }

    pub fn len(&self) -> usize {
        self.image.len
    }

    /// Makes `memory` (the image's size) equal to the image again.
    pub fn restore(&mut self, map: &PageMap, memory: &mut [u8]) -> Restored {
        assert_eq!(memory.len(), self.len(), "restore needs the image's size");
        let now = thread_faults().map(|n| (std::thread::current().id(), n));
        let quiet = self.may_skip && now.is_some() && now == self.faults_then;
        // Taken before this restore's writes: should they fault (a page
        // swapped out meanwhile), the next restore scans.
        self.faults_then = now;
        if !quiet {
            let base = memory.as_ptr() as u64;
            let mut found = Vec::new();
            if map
                .scan(base, memory.len() as u64, &mut |start, end| {
                    found.push(((start - base) as usize, (end - base) as usize));
                })
                .is_err()
            {
                // A kernel without the ioctl, or a failed scan: all of it,
                // and no skipping next time.
                found = vec![(0, memory.len())];
                self.faults_then = None;
            }
            self.known = found;
        }
        let mut bytes = 0;
        for &(from, to) in &self.known {
            bytes += self.image.put_back(memory, from, to);
        }
        Restored {
            bytes,
            scanned: !quiet,
        }
    }
}

/// The calling thread's page faults so far (minor and major), or `None`
/// if the kernel does not say.
fn thread_faults() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes one `rusage` into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: it succeeded, so it wrote the struct.
    let usage = unsafe { usage.assume_init() };
    Some(usage.ru_minflt as u64 + usage.ru_majflt as u64)
}

/// Regions returned per ioctl; more are fetched by scanning again from
/// where the kernel stopped.
const REGIONS: usize = 32;

/// This process's page map, if the kernel has `PAGEMAP_SCAN`.
pub struct PageMap(Option<File>);

impl PageMap {
    /// Opens `/proc/self/pagemap` and tries one scan; without it,
    /// [`Restorer::restore`] puts the whole memory back.
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

    /// Unmaps the pages of `memory` that are mapped but unwritten (the
    /// image's file pages, the zero page), as after reading all of it for a
    /// copy: their contents come back unchanged on the next touch, and the
    /// scans after requests examine only the pages requests mapped.
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
            if arg.walk_end >= end {
                return Ok(());
            }
            if arg.walk_end <= start {
                // No progress: never loop, never report a partial walk as
                // whole (the caller then restores everything).
                return Err(std::io::Error::other("PAGEMAP_SCAN made no progress"));
            }
            start = arg.walk_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut restorer = Restorer::new(Image::of(&vec![0u8; 64 * PAGE]), memory.bytes());
        // Read-only touches map the zero page: not written.
        assert_eq!(memory.bytes()[10 * PAGE], 0);
        memory.bytes()[3 * PAGE + 5] = 1;
        memory.bytes()[40 * PAGE] = 2;
        memory.bytes()[41 * PAGE + 4095] = 3;
        let done = restorer.restore(&map, memory.bytes());
        assert!(done.scanned);
        assert!(memory.bytes().iter().all(|&b| b == 0));
        if map.scans() {
            assert_eq!(done.bytes, 3 * PAGE, "pages 3, 40 and 41");
        } else {
            assert_eq!(done.bytes, 64 * PAGE);
        }
    }

    #[test]
    fn zero_pages_are_cleared_and_others_copied() {
        let map = PageMap::open();
        let mut contents = vec![0u8; 8 * PAGE];
        contents[2 * PAGE..3 * PAGE].fill(5);
        contents[5 * PAGE + 17] = 9;
        let mut memory = Mapping::new(8 * PAGE);
        memory.bytes().copy_from_slice(&contents);
        let mut restorer = Restorer::new(Image::of(&contents), memory.bytes());
        restorer.restore(&map, memory.bytes());
        for page in [1, 2, 5, 6] {
            memory.bytes()[page * PAGE..(page + 1) * PAGE].fill(0xee);
        }
        restorer.restore(&map, memory.bytes());
        assert!(memory.bytes() == &contents[..]);
    }

    /// Without a fault since the last restore, the known pages are put
    /// back without a scan; a write to a new page faults, and is found.
    #[test]
    fn skips_the_scan_only_while_no_page_fault_happened() {
        let map = PageMap::open();
        let mut memory = Mapping::new(16 * PAGE);
        let mut restorer = Restorer::new(Image::of(&vec![0u8; 16 * PAGE]), memory.bytes());
        memory.bytes()[2 * PAGE] = 1;
        assert!(restorer.restore(&map, memory.bytes()).scanned);
        // Page 2 is private now: writing it again takes no fault.
        let mut skipped = 0;
        for _ in 0..20 {
            memory.bytes()[2 * PAGE + 8] = 1;
            let done = restorer.restore(&map, memory.bytes());
            skipped += usize::from(!done.scanned);
            assert_eq!(memory.bytes()[2 * PAGE + 8], 0);
        }
        if map.scans() {
            assert!(skipped > 0, "never skipped");
        }
        // A new page: its first write faults, so the next restore scans.
        memory.bytes()[9 * PAGE + 1] = 1;
        let done = restorer.restore(&map, memory.bytes());
        assert!(done.scanned);
        assert!(memory.bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn scans_past_a_full_region_buffer() {
        let map = PageMap::open();
        // Every other page written: more separate regions than one ioctl returns.
        let pages = 4 * REGIONS;
        let mut memory = Mapping::new(pages * PAGE);
        let mut restorer = Restorer::new(Image::of(&vec![7u8; pages * PAGE]), memory.bytes());
        for page in (0..pages).step_by(2) {
            memory.bytes()[page * PAGE] = 1;
        }
        restorer.restore(&map, memory.bytes());
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
