import Foundation
import Synchronization
import Testing
import VigilServer
import VigilStore
import VigilVision

@Suite("the dashboard's previews, made once and bounded")
struct ThumbnailCacheTests {
    static let samples = Detector.Configuration.defaultModelFolder().appendingPathComponent("samples")

    static func photos() throws -> [Data] {
        var photos = try ["bus.jpg", "zidane.jpg"].map { try Data(contentsOf: samples.appendingPathComponent($0)) }
        let pixels = (0..<(64 * 48 * 3)).map { UInt8($0 % 251) }
        photos.append(try ImageEncoder.png(pixels, width: 64, height: 48))
        return photos
    }

    @Test func eachImageIsMadeOnceAndTheLeastRecentlyUsedIsForgottenPastCapacity() async throws {
        let cache = ThumbnailCache(capacity: 2)
        let photos = try Self.photos()
        let reads = Mutex(0)
        func thumbnail(_ index: Int) async throws -> Data? {
            try await cache.jpeg(of: BlobHash(of: photos[index])) {
                reads.withLock { $0 += 1 }
                return photos[index]
            }
        }
        let first = try #require(try await thumbnail(0))
        #expect(try ImageDecoder.header(first).width <= 160)
        #expect(try await thumbnail(0) == first)
        #expect(cache.statistics == .init(hits: 1, made: 1, refused: 0))
        _ = try await thumbnail(1)
        _ = try await thumbnail(2)
        // Three images in a cache of two: the bus, used longest ago, went; the other two are still kept.
        #expect(cache.statistics.made == 3)
        _ = try await thumbnail(2)
        _ = try await thumbnail(1)
        #expect(cache.statistics.hits == 3 && reads.withLock { $0 } == 3)
        _ = try await thumbnail(0)
        #expect(cache.statistics.made == 4 && reads.withLock { $0 } == 4)
    }

    @Test func anImageOverThePixelBoundIsRefusedBeforeItIsDecoded() async throws {
        let cache = ThumbnailCache(maximumPixels: 100_000)
        let bus = try Self.photos()[0]
        var refused: ImageError?
        do {
            _ = try await cache.jpeg(of: BlobHash(of: bus)) { bus }
        } catch let error as ImageError {
            refused = error
        }
        #expect(refused?.code == .tooLarge)
        #expect(cache.statistics.made == 0)
    }

    @Test func pastTheWaitingBoundMoreRequestsAreToldTheServerIsBusy() async throws {
        let cache = ThumbnailCache(maximumWaiting: 1)
        let photos = try Self.photos()
        let (started, startedSink) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseSink) = AsyncStream.makeStream(of: Void.self)
        let (busy, waited) = try await withThrowingTaskGroup(of: Data?.self) { group in
            group.addTask {
                try await cache.jpeg(of: BlobHash(of: photos[0])) {
                    startedSink.yield()
                    for await _ in release { break }
                    return photos[0]
                }
            }
            for await _ in started { break }
            // One request is waiting for its image: another image is refused, not queued.
            let busy = try await cache.jpeg(of: BlobHash(of: photos[1])) { photos[1] }
            releaseSink.yield()
            let waited = try await group.next() ?? nil
            return (busy, waited)
        }
        #expect(busy == nil)
        #expect(waited != nil)
        #expect(cache.statistics.refused == 1)
        #expect(try await cache.jpeg(of: BlobHash(of: photos[1])) { photos[1] } != nil)
    }
}
