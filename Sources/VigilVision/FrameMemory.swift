internal import CVigilImage

/// How a long-running Vigil process holds memory it uses briefly.
///
/// The large, short-lived buffers of its frames (a decoded 1920×1080 frame is 6 MB) each get a mapping of their
/// own, given back to the system when freed: glibc otherwise serves them from its heap after the first is
/// freed, where the freed space stays with the process. A fresh mapping is faulted in page by page, so what
/// every frame needs at one size, the detector's input tensor and outputs, is kept instead (`Detector`).
///
/// The small objects of the bounded caches (tree nodes, commits) are allocated by whichever thread decodes them,
/// in that thread's glibc arena; when a cache drops its older half, the space freed in one arena is not where
/// the next thread allocates, and glibc keeps it. A service asks for those pages back now and then (`trim`).
/// docs/benchmarks.md, the soaks of sessions 18 and 19: 60–70 MB of free space held in the arenas after
/// 2,000–5,000 frames.
public enum FrameMemory {
    /// Blocks from this size on get their own mapping: glibc's own starting threshold, kept fixed.
    public static let mappedBlockBytes = 128 * 1024

    /// Sets the policy for this process; call it first, before threads start. False when left as it was:
    /// `MALLOC_MMAP_THRESHOLD_` is set (the user's choice stands) or the C library is not glibc.
    @discardableResult
    public static func mapLargeBlocks() -> Bool {
        vigil_heap_map_large_blocks(mappedBlockBytes) == 1
    }

    /// Gives the free pages inside the heap back to the system; whether any were. Takes each arena's lock
    /// while it walks it, so call it now and then, not per frame.
    @discardableResult
    public static func trim() -> Bool {
        vigil_heap_trim() == 1
    }
}
