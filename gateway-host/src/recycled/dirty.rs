//! Restores a linear memory to what it was right after instantiation,
//! finding the pages a request touched with Linux's `PAGEMAP_SCAN` ioctl
//! (6.7+), the way Wasmtime's pooling allocator resets a slot. What the
//! restore leaves mapped depends on the [`Residency`]:
//!
//! - **Release** (the default): the pages instantiation itself made private
//!   (data it wrote, a start function's writes: the *base* pages) are
//!   copied back after every request, so they are always mapped, as they
//!   are in a fresh instance; every other page a request mapped, written or
//!   only read, is given back to the kernel (`MADV_DONTNEED`), so its next
//!   touch faults and refills it from the module's image (or zeros), as in
//!   a fresh instance. A request thus finds the same mappings whatever
//!   earlier requests touched: their timing tells it nothing.
//! - **Keep** (opt-in): every page that may have been written is put back
//!   in place and stays mapped, and the scan is skipped when the thread
//!   took no page fault since the last restore (a page stops being the
//!   image's or the zero page only through a fault on its first write, so
//!   the pages to put back are then the ones the last scan found; every
//!   fault of the thread is counted with `getrusage(RUSAGE_THREAD)`).
//!   Cheaper, but the mapped pages are an open timing channel.
//!
//! Either way the memory is marked `MADV_NOHUGEPAGE` first: khugepaged
//! could otherwise fold a range into a huge page from another thread,
//! filling untouched pages without a fault this thread counts (Keep mode
//! then never skips the scan if marking fails).
//!
//! Without `PAGEMAP_SCAN` every page is copied back after every request:
//! always all mapped, so nothing is told apart there either.

use std::fs::File;
use std::os::fd::AsRawFd as _;

use crate::residency::Residency;

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

/// Mapped at all: written, or only read (the image's page, the zero page).
const MAPPED: Categories = Categories {
    inverted: 0,
    mask: 0,
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

/// What a page of the memory is put back as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    /// Zeros, written back.
    Zero,
    /// These bytes of [`Image::copies`], written back.
    Copy(usize),
    /// The mapping's own contents (the module's image, or zeros): given
    /// back to the kernel, which refills it on the next touch.
    Mapped,
}

/// A memory's contents to restore: the pages to write back, copied (zero
/// pages only known), and the pages the mapping itself restores.
pub struct Image {
    len: usize,
    pages: Vec<Page>,
    copies: Vec<u8>,
}

impl Image {
    /// Every page of `memory` written back (reads, so maps, all of it).
    fn of(memory: &[u8]) -> Self {
        let mut image = Image {
            len: memory.len(),
            pages: vec![Page::Mapped; memory.len().div_ceil(PAGE)],
            copies: Vec::new(),
        };
        image.copy(memory, 0, memory.len());
        image
    }

    /// The pages in `runs` written back; every other page [`Page::Mapped`].
    fn of_runs(memory: &[u8], runs: &[(usize, usize)]) -> Self {
        let mut image = Image {
            len: memory.len(),
            pages: vec![Page::Mapped; memory.len().div_ceil(PAGE)],
            copies: Vec::new(),
        };
        for &(from, to) in runs {
            image.copy(memory, from, to);
        }
        image
    }

    /// Records `from..to` (page-aligned) of `memory` to be written back.
    fn copy(&mut self, memory: &[u8], from: usize, to: usize) {
        for start in (from..to).step_by(PAGE) {
            let page = &memory[start..(start + PAGE).min(to)];
            // Compared with a zero page: `memcmp`, not a byte loop.
            self.pages[start / PAGE] = if page == &ZEROS[..page.len()] {
                Page::Zero
            } else {
                self.copies.extend_from_slice(page);
                Page::Copy(self.copies.len() - page.len())
            };
        }
    }

    /// How many pages are written back (always mapped after a restore).
    fn written_back(&self) -> usize {
        self.pages.iter().filter(|p| **p != Page::Mapped).count()
    }

    /// Puts back `from..to` of `memory` (page-aligned) page by page: writes
    /// the copies and zeros, gives [`Page::Mapped`] runs back to the kernel.
    /// Returns the bytes written and released.
    fn put_back(&self, memory: &mut [u8], from: usize, to: usize) -> (usize, usize) {
        let (mut written, mut released) = (0, 0);
        let mut run: Option<usize> = None;
        for start in (from..to).step_by(PAGE) {
            let page = start..(start + PAGE).min(to);
            match self.pages[start / PAGE] {
                Page::Mapped => {
                    run.get_or_insert(start);
                    continue;
                }
                // Writes only: no read of a (likely cold) copy.
                Page::Zero => memory[page.clone()].fill(0),
                Page::Copy(at) => {
                    let len = page.len();
                    memory[page.clone()].copy_from_slice(&self.copies[at..at + len]);
                }
            }
            written += page.len();
            if let Some(at) = run.take() {
                released += release(&mut memory[at..start]);
            }
        }
        if let Some(at) = run {
            released += release(&mut memory[at..to]);
        }
        (written, released)
    }
}

/// Gives `range` back to the kernel: its next touch faults and maps the
/// mapping's own contents again (the module's image, or zeros).
fn release(range: &mut [u8]) -> usize {
    // SAFETY: the range lies in a memory borrowed mutably, and only pages
    // whose contents are the mapping's own are given here: dropping them
    // changes no byte the module can read (a private file page refaults
    // from the file, an anonymous one as zeros).
    let rc = unsafe { libc::madvise(range.as_mut_ptr().cast(), range.len(), libc::MADV_DONTNEED) };
    // MADV_DONTNEED on a private mapping does not fail for a valid range;
    // should it, the pages stay mapped with the right contents.
    if rc == 0 {
        range.len()
    } else {
        0
    }
}

/// Puts one memory back to its [`Image`] after each request.
pub struct Restorer {
    image: Image,
    residency: Residency,
    /// Whether the pages to restore are found by scanning (else all).
    scans: bool,
    /// Keep: the private pages the last scan found, as offsets.
    known: Vec<(usize, usize)>,
    /// Keep: the thread and its fault count when the last restore began.
    faults_then: Option<(std::thread::ThreadId, u64)>,
    /// Keep: whether the scan may be skipped at all (see the module's doc).
    may_skip: bool,
}

/// What one restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Bytes of memory written back.
    pub bytes: usize,
    /// Bytes given back to the kernel.
    pub released: usize,
    /// Whether the page tables were scanned (else the known pages sufficed).
    pub scanned: bool,
}

impl Restorer {
    /// A restorer of `memory` as it is now, right after instantiation.
    /// With [`Residency::Release`] the pages it maps but instantiation did
    /// not write are given back at once, so the first request starts as
    /// every later one does.
    pub fn new(map: &PageMap, memory: &mut [u8], residency: Residency) -> Self {
        // SAFETY: only changes how the kernel may back the range, which
        // lies in `memory`, borrowed mutably; its contents stay.
        let rc = unsafe {
            libc::madvise(
                memory.as_mut_ptr().cast(),
                memory.len(),
                libc::MADV_NOHUGEPAGE,
            )
        };
        let base = memory.as_ptr() as u64;
        let mut restorer = Restorer {
            image: Image::of(&[]),
            residency,
            scans: map.scans(),
            known: Vec::new(),
            faults_then: None,
            may_skip: rc == 0,
        };
        restorer.image = match residency {
            Residency::Release => {
                let mut written = Vec::new();
                let scanned = map.scan(base, memory.len() as u64, &mut |start, end| {
                    written.push(((start - base) as usize, (end - base) as usize));
                });
                if scanned.is_ok() {
                    let image = Image::of_runs(memory, &written);
                    restorer.release_unwritten(map, &image, memory);
                    image
                } else {
                    restorer.scans = false;
                    Image::of(memory)
                }
            }
            Residency::Keep => {
                let image = Image::of(memory);
                // Reading it all mapped every page; unmap the unwritten ones.
                map.release_clean(memory);
                image
            }
        };
        restorer
    }

    /// Gives back every mapped page of `memory` that `image` does not write
    /// back; those it does are written again.
    fn release_unwritten(&self, map: &PageMap, image: &Image, memory: &mut [u8]) -> Restored {
        let base = memory.as_ptr() as u64;
        let mut mapped = Vec::new();
        let scanned = map.scan_for(MAPPED, base, memory.len() as u64, &mut |start, end| {
            mapped.push(((start - base) as usize, (end - base) as usize));
        });
        if scanned.is_err() {
            // A failed scan: every page, written back or released.
            mapped = vec![(0, memory.len())];
        }
        let mut done = Restored {
            scanned: true,
            ..Restored::default()
        };
        for (from, to) in mapped {
            let (written, released) = image.put_back(memory, from, to);
            done.bytes += written;
            done.released += released;
        }
        done
    }

    pub fn len(&self) -> usize {
        self.image.len
    }

    /// Pages that are always mapped after a restore (Release: the base
    /// pages; without a scan: all).
    pub fn always_mapped_pages(&self) -> usize {
        self.image.written_back()
    }

    /// Makes `memory` (the image's size) equal to the image again.
    pub fn restore(&mut self, map: &PageMap, memory: &mut [u8]) -> Restored {
        assert_eq!(memory.len(), self.len(), "restore needs the image's size");
        if !self.scans {
            let (bytes, released) = self.image.put_back(memory, 0, memory.len());
            return Restored {
                bytes,
                released,
                scanned: false,
            };
        }
        match self.residency {
            Residency::Release => self.release_unwritten(map, &self.image, memory),
            Residency::Keep => self.restore_in_place(map, memory),
        }
    }

    /// Keep: the possibly written pages put back in place.
    fn restore_in_place(&mut self, map: &PageMap, memory: &mut [u8]) -> Restored {
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
                // A failed scan: all of it, and no skipping next time.
                found = vec![(0, memory.len())];
                self.faults_then = None;
            }
            self.known = found;
        }
        let mut bytes = 0;
        for &(from, to) in &self.known {
            bytes += self.image.put_back(memory, from, to).0;
        }
        Restored {
            bytes,
            released: 0,
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

    /// How many pages of `memory` are mapped (written, or only read), or
    /// `None` without a scan: what a request could tell apart by timing.
    pub fn mapped_pages(&self, memory: &[u8]) -> Option<usize> {
        let mut bytes = 0;
        let (base, len) = (memory.as_ptr() as u64, memory.len() as u64);
        self.scan_for(MAPPED, base, len, &mut |start, end| {
            bytes += end - start;
        })
        .ok()?;
        Some(bytes as usize / PAGE)
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

    fn mapped(map: &PageMap, memory: &mut Mapping) -> usize {
        map.mapped_pages(memory.bytes()).expect("PAGEMAP_SCAN")
    }

    #[test]
    fn keep_restores_written_pages_and_only_those_when_it_can_scan() {
        let map = PageMap::open();
        let mut memory = Mapping::new(64 * PAGE);
        let mut restorer = Restorer::new(&map, memory.bytes(), Residency::Keep);
        // Read-only touches map the zero page: not written.
        assert_eq!(memory.bytes()[10 * PAGE], 0);
        memory.bytes()[3 * PAGE + 5] = 1;
        memory.bytes()[40 * PAGE] = 2;
        memory.bytes()[41 * PAGE + 4095] = 3;
        let done = restorer.restore(&map, memory.bytes());
        assert!(memory.bytes().iter().all(|&b| b == 0));
        if map.scans() {
            assert!(done.scanned);
            assert_eq!(done.bytes, 3 * PAGE, "pages 3, 40 and 41");
            assert_eq!(done.released, 0);
        } else {
            assert_eq!(done.bytes, 64 * PAGE);
        }
    }

    /// Release: after every restore exactly the pages instantiation wrote
    /// are mapped, whatever the request wrote or only read.
    #[test]
    fn release_leaves_only_the_base_pages_mapped() {
        let map = PageMap::open();
        if !map.scans() {
            eprintln!("no PAGEMAP_SCAN: every page is written back instead");
            return;
        }
        let mut memory = Mapping::new(32 * PAGE);
        memory.bytes()[2 * PAGE..3 * PAGE].fill(5);
        memory.bytes()[5 * PAGE + 9] = 7;
        let before = memory.bytes().to_vec();
        let mut restorer = Restorer::new(&map, memory.bytes(), Residency::Release);
        assert_eq!(restorer.always_mapped_pages(), 2);
        assert_eq!(mapped(&map, &mut memory), 2);
        for round in 0..3u8 {
            assert_eq!(memory.bytes()[10 * PAGE], 0); // read only
            memory.bytes()[3 * PAGE] = round + 1;
            memory.bytes()[20 * PAGE + 100] = 9;
            memory.bytes()[2 * PAGE + 1] = 0xee;
            assert_eq!(mapped(&map, &mut memory), 5);
            let done = restorer.restore(&map, memory.bytes());
            assert_eq!(mapped(&map, &mut memory), 2, "round {round}");
            assert_eq!((done.bytes, done.released), (2 * PAGE, 3 * PAGE));
            // Comparing reads (maps) every page: the next restore unmaps them.
            assert!(memory.bytes() == &before[..], "round {round}");
            restorer.restore(&map, memory.bytes());
            assert_eq!(mapped(&map, &mut memory), 2, "round {round}");
        }
    }

    #[test]
    fn zero_pages_are_cleared_and_others_copied() {
        let map = PageMap::open();
        for residency in [Residency::Release, Residency::Keep] {
            let mut contents = vec![0u8; 8 * PAGE];
            contents[2 * PAGE..3 * PAGE].fill(5);
            contents[5 * PAGE + 17] = 9;
            let mut memory = Mapping::new(8 * PAGE);
            memory.bytes().copy_from_slice(&contents);
            let mut restorer = Restorer::new(&map, memory.bytes(), residency);
            restorer.restore(&map, memory.bytes());
            for page in [1, 2, 5, 6] {
                memory.bytes()[page * PAGE..(page + 1) * PAGE].fill(0xee);
            }
            restorer.restore(&map, memory.bytes());
            assert!(memory.bytes() == &contents[..], "{residency:?}");
        }
    }

    /// Keep: without a fault since the last restore, the known pages are
    /// put back without a scan; a write to a new page faults, and is found.
    #[test]
    fn keep_skips_the_scan_only_while_no_page_fault_happened() {
        let map = PageMap::open();
        let mut memory = Mapping::new(16 * PAGE);
        let mut restorer = Restorer::new(&map, memory.bytes(), Residency::Keep);
        memory.bytes()[2 * PAGE] = 1;
        restorer.restore(&map, memory.bytes());
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
            // A new page: its first write faults, so the next restore scans.
            memory.bytes()[9 * PAGE + 1] = 1;
            assert!(restorer.restore(&map, memory.bytes()).scanned);
        }
        assert!(memory.bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn scans_past_a_full_region_buffer() {
        let map = PageMap::open();
        // Every other page written: more separate regions than one ioctl returns.
        let pages = 4 * REGIONS;
        for residency in [Residency::Release, Residency::Keep] {
            let mut memory = Mapping::new(pages * PAGE);
            let mut restorer = Restorer::new(&map, memory.bytes(), residency);
            for page in (0..pages).step_by(2) {
                memory.bytes()[page * PAGE] = 1;
            }
            restorer.restore(&map, memory.bytes());
            if map.scans() {
                let want = match residency {
                    Residency::Release => 0,
                    Residency::Keep => pages / 2,
                };
                assert_eq!(mapped(&map, &mut memory), want, "{residency:?}");
            }
            assert!(memory.bytes().iter().all(|&b| b == 0), "{residency:?}");
        }
    }
}
