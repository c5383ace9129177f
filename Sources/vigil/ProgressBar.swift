import Foundation

/// A one-line progress bar on standard error, drawn only when it is a terminal and at most ten times a second.
struct ProgressBar {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private let started = Date()
    private var done = 0
    private var bytes: Int64 = 0
    private var lastDraw = Date.distantPast

    init(label: String, total: Int, enabled: Bool = Terminal.standardErrorIsTerminal) {
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    mutating func advance(bytes added: Int64) {
        done += 1
        bytes += added
        let now = Date()
        if enabled, now.timeIntervalSince(lastDraw) >= 0.1 || done == total {
            lastDraw = now
            draw(now)
        }
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(_ now: Date) {
        let width = 30
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let filled = Int(fraction * Double(width))
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Int(Double(done) / elapsed)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\r\(label) [\(bar)] \(done)/\(total) files  \(Terminal.bytes(bytes))  \(rate) files/s "
        FileHandle.standardError.write(Data(line.utf8))
    }
}
