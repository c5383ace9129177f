import Foundation
import Testing
import VigilVision

@Suite("Worker threads")
struct WorkerThreadTests {
    /// `top -H`, `perf` and /proc show a thread by the name the system keeps, which Foundation's `Thread.name`
    /// does not set on Linux.
    @Test("a worker thread carries its name where the system shows it, cut to Linux's 15 bytes")
    func theSystemSeesItsName() async throws {
        let named = WorkerThread(name: "vigil-test")
        let long = WorkerThread(name: "vigil-a-name-longer-than-fifteen-bytes")
        let readName: @Sendable () throws -> String = {
            try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
        }
        #expect(try await named.run(readName) == "vigil-test")
        #expect(try await long.run(readName) == "vigil-a-name-lo")
    }

    /// The runtime keeps per-thread buffers warm only if every inference runs on the same thread.
    @Test("work submitted from many tasks runs on the one thread")
    func everyJobRunsOnTheOneThread() async throws {
        let thread = WorkerThread(name: "vigil-order")
        let seen = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await thread.run { try String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8) }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        // Every job saw the same thread id (the first field of its stat).
        #expect(seen.count == 4)
        #expect(Set(seen.map { $0.split(separator: " ")[0] }).count == 1)
    }
}
