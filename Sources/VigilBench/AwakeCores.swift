import ArgumentParser
import Foundation
import VigilVision

/// Busy loops at the lowest scheduling class (`SCHED_IDLE`), one per core, each a process of its own, for as long
/// as a benchmark runs: a loop gets a core only when no other thread wants it, so no core sits idle between
/// frames. A diagnostic, not a way to run Vigil: on a VM whose idle vCPUs halt, an inference after 170 ms of idle
/// cores took 15 ms longer than one right after another (docs/benchmarks.md, session 34); with the cores kept
/// awake, what is left above the detector alone is the service's own share. The loops burn every core they are
/// given, their CPU time is not counted as the benchmark's, and they die with the benchmark, killed or not.
final class AwakeCores: Sendable {
    private let loops: [Process]
    /// Where the loops are started from: `setpriv --pdeathsig` ties each loop to the thread that started it, and
    /// the threads async code runs on may end when idle; this one lives as long as the loops.
    private let spawner: WorkerThread

    /// Starts a loop per core; throws, with none left running, when one cannot start.
    static func start(cores: Int = ProcessInfo.processInfo.activeProcessorCount) async throws -> AwakeCores {
        let spawner = WorkerThread(name: "vigil-awake")
        let loops = try await spawner.run { try startLoops(cores) }
        return AwakeCores(loops: loops, spawner: spawner)
    }

    private init(loops: [Process], spawner: WorkerThread) {
        self.loops = loops
        self.spawner = spawner
    }

    private static func startLoops(_ cores: Int) throws -> [Process] {
        var started: [Process] = []
        for _ in 0..<max(1, cores) {
            let loop = Process()
            loop.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            // `while :` is the shell's own loop: no system calls, nothing but a core kept running.
            loop.arguments = ["--pdeathsig", "KILL", "chrt", "--idle", "0", "sh", "-c", "while :; do :; done"]
            loop.standardOutput = FileHandle.nullDevice
            loop.standardError = FileHandle.nullDevice
            do {
                try loop.run()
            } catch {
                stop(started)
                throw ValidationError(
                    "--keep-cores-awake starts its busy loops with setpriv and chrt (Debian's util-linux): \(error)")
            }
            started.append(loop)
        }
        return started
    }

    /// How many loops run (one per core asked for).
    var count: Int { loops.count }

    /// Ends the loops and waits for them.
    func stop() async {
        let loops = self.loops
        _ = try? await spawner.run { Self.stop(loops) }
    }

    private static func stop(_ loops: [Process]) {
        // SIGKILL, not `terminate()`: the loops inherit the spawning thread's mask, which blocks SIGTERM.
        for loop in loops where loop.isRunning { kill(loop.processIdentifier, SIGKILL) }
        for loop in loops { loop.waitUntilExit() }
    }
}
