import Synchronization

/// A decoded frame's bytes, written once when it is made and only read after.
///
/// A long-running process maps each large block on its own and gives it back when freed (`FrameMemory`), so a
/// frame decoded into new memory pays a page fault for every 4 KiB it writes: about 1 ms for a 960×540 frame
/// and 3–4 ms for a 1920×1080 PNG on the machines in docs/benchmarks.md. A frame's pixels live from the
/// decoder to the detector's resize (through `DecodedImageCache` in a service), so the memory goes back to a
/// small pool (`PixelBuffer.Pool`) when the last image holding it is gone, and the next frame is decoded into
/// pages that are already there.
public final class PixelBuffer: @unchecked Sendable {
    // Sendable: the bytes are written only inside `init`, before the buffer is shared.
    private let block: Pool.Block
    private let pool: Pool?
    /// The bytes in use (the storage may be larger: a recycled block).
    public let count: Int

    /// A buffer of `count` bytes that `body` must initialize in full (it gets memory with old contents).
    /// Taken from `pool` where it has a block large enough.
    public init(
        count: Int, pool: Pool? = .shared, initializingWith body: (UnsafeMutableBufferPointer<UInt8>) throws -> Void
    ) rethrows {
        precondition(count >= 0, "a buffer of \(count) bytes")
        let block = pool?.take(atLeast: count) ?? Pool.Block(memory: Pool.allocate(count), generation: 0)
        do {
            try body(block.bytes(count))
        } catch {
            Self.release(block, to: pool)
            throw error
        }
        self.block = block
        self.pool = pool
        self.count = count
    }

    /// A copy of `bytes` (not pooled: for small images made in code, such as tests').
    public convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count, pool: nil) { out in
            _ = out.initialize(fromContentsOf: bytes)
        }
    }

    deinit {
        Self.release(block, to: pool)
    }

    /// Back to the pool it came from, or to the system.
    private static func release(_ block: Pool.Block, to pool: Pool?) {
        if let pool { pool.give(block) } else { block.memory.deallocate() }
    }

    /// The memory the buffer holds: its block, which may be larger than `count` when the block was kept from a
    /// larger frame. What a bound on memory (`DecodedImageCache`) counts.
    public var capacity: Int { block.memory.count }

    public func withUnsafeBufferPointer<R, E>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try body(UnsafeBufferPointer(block.bytes(count)))
    }
}

extension PixelBuffer: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < count, "pixel byte \(position) of \(count)")
        return block.memory.load(fromByteOffset: position, as: UInt8.self)
    }
}

extension PixelBuffer {
    /// Blocks freed by frames that are gone, kept for the next frames: at most `limitBytes` in all, the
    /// largest let go first when over (a smaller frame may use a larger block; the next large one then finds
    /// none and maps its own). A burst of frames in flight at once leaves more blocks than the frames after it
    /// need, so `trim` (every 30 s in a service, `HeapTrim`) lets go of those nobody took since the last
    /// `trim`: what is kept follows the recent need, not the most ever held. A kept block still holds the
    /// pixels of the frame that used it last, so `removeAll` lets every one go when an erasure is recorded
    /// (`ErasureWatch`), and blocks taken before it are not kept when they come back.
    public final class Pool: Sendable {
        /// The process's pool. 24 MiB: the few frames a service has between decode and detection at a time,
        /// a 1920×1080 PNG (6 MB) among them.
        public static let shared = Pool(limitBytes: 24 << 20)

        public let limitBytes: Int
        private let state = Mutex(State())

        public struct Statistics: Sendable, Hashable {
            /// Frames decoded into a kept block.
            public var reused = 0
            /// Frames that found none large enough.
            public var allocated = 0
            public var keptBytes = 0
        }

        /// A block of memory; only ever in one place (the pool, or the buffer that took it).
        struct Block: @unchecked Sendable {
            let memory: UnsafeMutableRawBufferPointer
            /// The pool's generation when the block was taken.
            let generation: Int
            /// Whether it was given back since the last `trim`.
            var recent = true

            /// Its first `count` bytes (memory bound to bytes when allocated).
            func bytes(_ count: Int) -> UnsafeMutableBufferPointer<UInt8> {
                UnsafeMutableBufferPointer(start: memory.baseAddress?.assumingMemoryBound(to: UInt8.self), count: count)
            }
        }

        struct State {
            /// Smallest first.
            var blocks: [Block] = []
            var generation = 0
            var statistics = Statistics()
        }

        public init(limitBytes: Int) {
            self.limitBytes = limitBytes
        }

        deinit {
            state.withLock { state in _ = Self.free(state.blocks) }
        }

        public var current: Statistics {
            state.withLock { state in
                var statistics = state.statistics
                statistics.keptBytes = Self.bytes(of: state.blocks)
                return statistics
            }
        }

        /// The smallest kept block of `count` bytes or more, or a new one.
        func take(atLeast count: Int) -> Block {
            let (kept, generation) = state.withLock { state -> (Block?, Int) in
                guard let index = state.blocks.firstIndex(where: { $0.memory.count >= count }) else {
                    state.statistics.allocated += 1
                    return (nil, state.generation)
                }
                state.statistics.reused += 1
                return (state.blocks.remove(at: index), state.generation)
            }
            return kept ?? Block(memory: Self.allocate(count), generation: generation)
        }

        /// Keeps `block` for a later frame, or frees it (or others, largest first) to stay within the limit.
        func give(_ block: Block) {
            let dropped = state.withLock { state -> [Block] in
                guard block.generation == state.generation else { return [block] }
                let index = state.blocks.firstIndex { $0.memory.count >= block.memory.count } ?? state.blocks.endIndex
                state.blocks.insert(Block(memory: block.memory, generation: state.generation), at: index)
                var kept = Self.bytes(of: state.blocks)
                var dropped: [Block] = []
                while kept > limitBytes, let largest = state.blocks.popLast() {
                    kept -= largest.memory.count
                    dropped.append(largest)
                }
                return dropped
            }
            Self.free(dropped)
        }

        /// Lets go of the kept blocks that no frame took and gave back since the last call; returns their bytes.
        @discardableResult
        public func trim() -> Int {
            let dropped = state.withLock { state -> [Block] in
                var (kept, idle): ([Block], [Block]) = ([], [])
                for var block in state.blocks {
                    if block.recent {
                        block.recent = false
                        kept.append(block)
                    } else {
                        idle.append(block)
                    }
                }
                state.blocks = kept
                return idle
            }
            return Self.free(dropped)
        }

        /// Lets every kept block go, and those in use when they come back; returns the bytes let go now.
        @discardableResult
        public func removeAll() -> Int {
            let dropped = state.withLock { state -> [Block] in
                state.generation += 1
                defer { state.blocks = [] }
                return state.blocks
            }
            return Self.free(dropped)
        }

        private static func bytes(of blocks: [Block]) -> Int {
            blocks.reduce(0) { $0 + $1.memory.count }
        }

        /// Gives `blocks` back to the system (outside the lock); returns their bytes.
        @discardableResult
        private static func free(_ blocks: [Block]) -> Int {
            for block in blocks { block.memory.deallocate() }
            return bytes(of: blocks)
        }

        /// New memory, bound to bytes for good (a block only ever holds pixels or a decoder's rows).
        static func allocate(_ count: Int) -> UnsafeMutableRawBufferPointer {
            let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(count, 1), alignment: 64)
            memory.bindMemory(to: UInt8.self)
            return memory
        }
    }
}
