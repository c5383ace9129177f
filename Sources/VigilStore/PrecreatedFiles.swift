import Dispatch
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Empty files made ahead in each fan-out folder of a `FileSystemBlobStore`, on a queue of their own, for its
/// writers to fill and rename into place. Creating a file allocates an inode, and that can wait for the disk:
/// when the block group a folder's files come from is full, the next group's inode bitmap is read first (362 ms
/// for both of Swift's cooperative threads at once in one benchmark run, docs/benchmarks.md, session 50). The
/// writers run on the few threads that all async work shares; the queue's waits hold up nothing.
///
/// Files are made only while the service runs (a long-lived process: `vigil serve`, a worker); a store
/// without it, or with a folder's files all taken, creates its own as before. A file is handed out only while
/// younger than `maxAge`, inside the five minutes a gc leaves dot-named files alone by default before it takes
/// them for abandoned writes, and older ones are replaced; a writer whose file a gc took all the same (one run
/// with less grace) writes the blob again in a file of its own. At shutdown the files not taken are removed;
/// after a crash, gc removes them like any abandoned write.
public final class PrecreatedFiles: Service, Sendable {
    private struct Made: Sendable {
        var path: String
        var made: ContinuousClock.Instant
    }

    private struct State: Sendable {
        var stock: [[Made]]
        var running = false
        var takenSinceRefill = 0
        var refillQueued = false
    }

    private let folders: [String]
    /// Files kept ready per folder.
    public let perFolder: Int
    /// Taken files that queue a refill: a refill per blob would wake the queue for every write.
    private let refillAfter: Int
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "vigil-blob-files")
    /// Older files are not handed out.
    let maxAge: Duration
    /// How often files are replaced before they age, when writes are too few to refill.
    let refreshEvery: Duration
    /// When a file is made and taken (a test's own clock moves it on).
    private let now: @Sendable () -> ContinuousClock.Instant

    init(
        folders: [String], perFolder: Int = 4, maxAge: Duration = .seconds(240),
        refreshEvery: Duration = .seconds(80), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.folders = folders
        self.perFolder = max(1, perFolder)
        self.maxAge = maxAge
        self.refreshEvery = refreshEvery
        self.now = now
        refillAfter = max(1, folders.count * self.perFolder / 8)
        state = Mutex(State(stock: Array(repeating: [], count: folders.count)))
    }

    /// Files ready now (for tests).
    public var ready: Int { state.withLock { $0.stock.reduce(0) { $0 + $1.count } } }

    /// A made, empty, writable file in folder `index`, or nil when none is ready (the writer creates one).
    func take(folder index: Int) -> String? {
        let now = now()
        let (made, refill) = state.withLock { state -> (Made?, Bool) in
            guard let made = state.stock[index].popLast() else { return (nil, false) }
            state.takenSinceRefill += 1
            guard state.takenSinceRefill >= refillAfter, !state.refillQueued else { return (made, false) }
            state.refillQueued = true
            return (made, true)
        }
        if refill { queue.async { self.refill() } }
        guard let made else { return nil }
        guard now - made.made < maxAge else {
            // Aged while nothing was written: the writer makes its own, the queue removes this one.
            queue.async { unlink(made.path) }
            return nil
        }
        return made.path
    }

    public func run() async throws {
        state.withLock { $0.running = true }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: self.refreshEvery)
            }
        }
        let left = state.withLock { state -> [Made] in
            state.running = false
            defer { state.stock = Array(repeating: [], count: folders.count) }
            return state.stock.flatMap { $0 }
        }
        await onQueue {
            for made in left { unlink(made.path) }
        }
    }

    /// Tops every folder up and replaces the files that would age before the next refresh, and returns once
    /// done.
    func refresh() async {
        await onQueue { self.refill() }
    }

    private func onQueue(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            queue.async {
                body()
                continuation.resume()
            }
        }
    }

    /// Tops every folder up to `perFolder` and replaces files that will have aged before the next refresh.
    private func refill() {
        let now = now()
        let keepUntil = now - (maxAge - refreshEvery)
        var aged: [Made] = []
        let needed = state.withLock { state -> [Int] in
            state.refillQueued = false
            state.takenSinceRefill = 0
            guard state.running else { return [] }
            return state.stock.indices.map { index in
                let (young, old) = state.stock[index].split { $0.made >= keepUntil }
                aged += old
                state.stock[index] = young
                return perFolder - young.count
            }
        }
        for made in aged { unlink(made.path) }
        for (index, count) in needed.enumerated() where count > 0 {
            var made: [Made] = []
            for _ in 0..<count {
                let path = folders[index] + "/.p" + Hex.randomName()
                let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                // A full disk or a removed folder: writers create their own files and say what failed.
                guard descriptor >= 0 else { break }
                close(descriptor)
                made.append(Made(path: path, made: self.now()))
            }
            let kept = state.withLock { state -> Bool in
                guard state.running else { return false }
                state.stock[index] += made
                return true
            }
            if !kept { for file in made { unlink(file.path) } }
        }
    }
}

extension Array {
    /// The elements that satisfy `belongs` and those that do not, each in order.
    fileprivate func split(_ belongs: (Element) -> Bool) -> ([Element], [Element]) {
        var yes: [Element] = []
        var no: [Element] = []
        for element in self {
            if belongs(element) { yes.append(element) } else { no.append(element) }
        }
        return (yes, no)
    }
}

extension VersionedStore {
    /// What a long-lived process runs beside its work so that its blob writes find files made ahead: the
    /// store's `PrecreatedFiles` when its blobs are in a local folder, nothing otherwise.
    public var blobFilesMadeAhead: [any Service] {
        (blobs as? FileSystemBlobStore).map { [$0.precreated] } ?? []
    }
}
