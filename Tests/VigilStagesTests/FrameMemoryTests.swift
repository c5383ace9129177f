import CVigilImage
import Foundation
import Testing
import VigilVision

/// Decoded frames are freed as fast as they are made; each must go back to the system, not stay in the heap.
@Suite("Frame buffers and the heap")
struct FrameMemoryTests {
    static let userChoseThreshold = ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] != nil

    /// glibc raises its threshold to the size of a mapped block when it is freed, so without the policy the
    /// second frame of the loop below comes from the heap (and this fails there). In a process of its own, as
    /// `vigil` sets it at start: in this one, other tests' freed blocks sit in the heap's bins, and malloc
    /// serves from a bin whatever the threshold.
    @Test(
        "a decoded frame's buffer has its own mapping, also after one was freed",
        .enabled(if: !userChoseThreshold, "MALLOC_MMAP_THRESHOLD_ is set: the user's threshold stands"))
    func largeBlocksStayMapped() async {
        await #expect(processExitsWith: .success) {
            guard FrameMemory.mapLargeBlocks() else { exit(2) }
            for _ in 1...3 {
                guard let block = malloc(1920 * 1080 * 3) else { exit(4) }
                // A frame from the heap.
                if vigil_heap_block_is_mapped(block) != 1 { exit(1) }
                free(block)
            }
            guard let small = malloc(1024) else { exit(4) }
            // A 1 KB block with a mapping of its own: the check reads the header wrong.
            if vigil_heap_block_is_mapped(small) != 0 { exit(3) }
            free(small)
        }
    }

    /// Space freed in the middle of the heap (a cache's older half dropped while newer objects live on) stays
    /// with the process until it is trimmed. Every 64th block stays live, so the freed runs (63 KB each) lie
    /// between live blocks, where `free` itself gives nothing back, wherever the blocks landed.
    @Test("space freed inside the heap goes back to the system when trimmed")
    func trimGivesBackFreeSpace() throws {
        let blocks = try (0..<16_384).map { _ in try #require(malloc(1024)) }
        let live = blocks.indices.filter { $0 % 64 == 63 }
        for index in blocks.indices where index % 64 != 63 { free(blocks[index]) }
        #expect(FrameMemory.trim(), "16 MB freed between live blocks should have given back pages")
        for index in live { free(blocks[index]) }
    }
}
