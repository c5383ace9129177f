import Foundation
import Testing
import VigilStages
import VigilStore

/// What an erasure's selection takes, by the naming contract's device ids.
@Suite("Frame selection")
struct FrameSelectionTests {
    /// A device id may hold dots: its frames, and the files made from them in every repo, are all taken, and
    /// no other device's.
    @Test func aDeviceWithDotsTakesItsFramesAndWhatWasMadeFromThemOnly() throws {
        let selection = try FrameSelection(devices: ["porch.east"]).erasureSelection()
        for (repo, path) in [
            ("images", "/porch.east-1700000000.jpg"), ("validate", "/valid/porch.east-1700000000.jpg"),
            ("detect", "/porch.east/porch.east-1700000000.jpg.json"),
            ("validate", "/invalid/porch.east-1700000001.png.reason.json"),
        ] {
            #expect(selection.matches(repo, path), "\(repo):\(path)")
        }
        for path in ["/porch-1700000000.jpg", "/porch.eastern-1700000000.jpg", "/east-1700000000.jpg", "/notes.txt"] {
            #expect(!selection.matches("images", path), "\(path)")
        }
    }

    @Test(arguments: ["front-door", "", ".cam", "cam 1"])
    func aDeviceIdTheContractRefusesIsRefused(device: String) {
        let error = #expect(throws: VigilError.self) { try FrameSelection(devices: [device]).erasureSelection() }
        #expect(error?.code == .badArgument)
        #expect(error?.message.contains("no '-'") == true)
    }
}
