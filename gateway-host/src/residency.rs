//! Whether the memory pages a request touched stay resident for later
//! requests. A page that is mapped takes no fault when it is next touched
//! (tens of nanoseconds); one that is not takes a fault (microseconds), and a
//! module that reads a clock can tell the two apart. So a design that keeps
//! pages mapped between requests (a pool slot's keep-resident reset, a
//! recycled instance's restore) lets one request leave bits for any later
//! one: one per 4 KiB page, until the page is touched again.
//!
//! [`Residency::Release`], the default, gives every page a request mapped
//! back to the kernel before the next request, so every request starts from
//! the mappings a fresh instance has. [`Residency::Keep`] is the opt-in fast
//! mode: no page faults for pages earlier requests touched, and the channel
//! stays open (docs/variants.md, "Reuse and page residency", gives its measured
//! capacity).

/// What happens to the pages a request mapped.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Residency {
    /// Unmapped after each request (`madvise(MADV_DONTNEED)`); contents come
    /// back from the module's image on the next touch. Closed channel.
    #[default]
    #[value(name = "release")]
    Release,
    /// Kept mapped and restored in place: faster, but the pages an earlier
    /// request touched are visible to a later one's timing.
    #[value(name = "keep")]
    Keep,
}

impl Residency {
    pub fn name(self) -> &'static str {
        match self {
            Residency::Release => "release",
            Residency::Keep => "keep",
        }
    }
}
