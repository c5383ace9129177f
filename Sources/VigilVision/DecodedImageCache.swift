import Foundation
import Synchronization

/// Decoded images handed from `validate` to `detect` when both run in one process (`vigil serve`, `vigil
/// engine`). Validating decodes every byte of a JPEG's stream (that is how damage is found), and so does
/// detecting: on two cores the second decode (4-6 ms for a phone photo) lies on every alert's path. So a
/// detector announces the input size it decodes for (`expect`), the validator decodes at the DCT scale that
/// detector would pick and leaves the pixels here under the image's content hash, and the detector takes
/// them instead of decoding again.
///
/// Only exact matches are used: the same content, decoded at the same scale with the same settings, so a
/// detection is the same whether the pixels came from here or from the detector's own decode. Bounded by the
/// bytes the images hold (a small frame in a larger kept block counts as the block: `PixelBuffer.capacity`),
/// oldest first out; an entry is taken once. Nothing here is needed for correctness: a miss decodes.
public final class DecodedImageCache: Sendable {
    /// The process's cache, which the stages share.
    public static let shared = DecodedImageCache(byteLimit: 64 << 20)

    public struct Entry: Sendable {
        public var image: RGBImage
        public var header: ImageHeader
        /// The DCT scale (N of N/8) the image was decoded at.
        public var scale: UInt32

        /// The memory the entry keeps from being reused or freed.
        var held: Int { image.pixels.capacity }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var bytes = 0
        /// The largest input a detector in this process decodes for (nil: none, nothing is kept).
        var expected: (width: Int, height: Int)?
        var hits = 0
        var misses = 0
        var generation = 0
    }

    private let state = Mutex(State())
    public let byteLimit: Int

    public init(byteLimit: Int) {
        self.byteLimit = byteLimit
    }

    /// A detector decoding for `width`×`height` runs in this process (the largest announced wins).
    public func expect(width: Int, height: Int) {
        state.withLock { state in
            let current = state.expected ?? (0, 0)
            state.expected = (max(current.width, width), max(current.height, height))
        }
    }

    /// The input size validators should decode for, or nil when no detector here would take the pixels.
    public var expectedSize: (width: Int, height: Int)? { state.withLock { $0.expected } }

    /// Keeps `image` (decoded at `scale`, N of N/8) under `key` (a content hash), dropping the oldest entries
    /// beyond the byte limit.
    /// With `generation` (read before decoding), nothing is kept when `removeAll` ran since: the frame may
    /// have been erased while it was being decoded.
    public func insert(
        _ image: RGBImage, header: ImageHeader, scale: UInt32, for key: String, generation: Int? = nil
    ) {
        let entry = Entry(image: image, header: header, scale: scale)
        let size = entry.held
        guard size <= byteLimit else { return }
        state.withLock { state in
            if let generation, generation != state.generation { return }
            if let old = state.entries.removeValue(forKey: key) {
                state.bytes -= old.held
                state.order.removeAll { $0 == key }
            }
            while state.bytes + size > byteLimit, !state.order.isEmpty {
                let oldest = state.order.removeFirst()
                if let dropped = state.entries.removeValue(forKey: oldest) { state.bytes -= dropped.held }
            }
            state.entries[key] = entry
            state.order.append(key)
            state.bytes += size
        }
    }

    /// Takes (and removes) the image kept under `key` if it was decoded at `scale`.
    public func take(_ key: String, scale: UInt32) -> Entry? {
        state.withLock { state in
            guard let entry = state.entries[key], entry.scale == scale else {
                state.misses += 1
                return nil
            }
            state.entries[key] = nil
            state.order.removeAll { $0 == key }
            state.bytes -= entry.held
            state.hits += 1
            return entry
        }
    }

    /// Counts `removeAll`s: read before decoding, given to `insert`.
    public var generation: Int { state.withLock { $0.generation } }

    /// Drops every image (an erasure was recorded: `ErasureWatch`); returns how many were held.
    @discardableResult
    public func removeAll() -> Int {
        state.withLock { state in
            let held = state.entries.count
            state.generation += 1
            state.entries = [:]
            state.order = []
            state.bytes = 0
            return held
        }
    }

    /// Images taken, lookups that found nothing usable, images and bytes held now.
    public var statistics: (hits: Int, misses: Int, images: Int, bytes: Int) {
        state.withLock { ($0.hits, $0.misses, $0.entries.count, $0.bytes) }
    }
}
