import Foundation
import Testing
import VigilStages

@Suite("Naming contract")
struct ImageNameTests {
    @Test func aGoodNameParsesIntoDeviceAndUTCTime() throws {
        let name = try ImageName.parse("frontdoor_2.cam-1700000000.jpg")
        #expect(name.device == "frontdoor_2.cam")
        #expect(name.seconds == 1_700_000_000)
        #expect(name.time == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(name.fileExtension == "jpg")
        #expect(name.stem == "frontdoor_2.cam-1700000000")
        #expect(try ImageName.parse("A-0.png").device == "A")
        #expect(try ImageName.parse("cam9-1700000001.jpeg").fileExtension == "jpeg")
    }

    @Test(arguments: [
        ("", NameError.Code.emptyName),
        ("../cam1-1700000000.jpg", .pathTraversal),
        ("cams/../../x-1.jpg", .pathTraversal),
        ("a/cam1-1700000000.jpg", .pathSeparator),
        ("cam1\\1700000000.jpg", .pathSeparator),
        ("cam1-1700000000", .unknownExtension),
        ("cam1-1700000000.gif", .unknownExtension),
        ("cam1-1700000000.JPG", .unknownExtension),
        ("cam1-1700000000.jpg.exe", .unknownExtension),
        ("cam1_1700000000.jpg", .missingTimestamp),
        ("-1700000000.jpg", .badDeviceID),
        ("_cam-1700000000.jpg", .badDeviceID),
        ("front-door-1700000000.jpg", .badDeviceID),
        ("cäm-1700000000.jpg", .badDeviceID),
        (String(repeating: "c", count: 65) + "-1700000000.jpg", .badDeviceID),
        ("cam1-.jpg", .badTimestamp),
        ("cam1-17e8.jpg", .badTimestamp),
        ("cam1-+1700000000.jpg", .badTimestamp),
        ("cam1-99999999999.jpg", .badTimestamp),
        ("cam1-１７００.jpg", .badTimestamp),
    ])
    func everyWayANameCanBeWrongHasItsCode(name: String, code: NameError.Code) {
        #expect(throws: NameError.self) { try ImageName.parse(name) }
        do {
            _ = try ImageName.parse(name)
        } catch {
            #expect(error.code == code, "\(name): \(error.message)")
            #expect(!error.message.isEmpty)
        }
    }

    /// Erasure, retention and holds find a stored file's frame by its name: the upload and everything made from
    /// it, device ids with dots included.
    @Test(
        arguments: [
            ("cam1-1700000000.jpg", "cam1", 1_700_000_000),
            ("/images/cam1-1700000000.jpg.json", "cam1", 1_700_000_000),
            ("/invalid/cam1-1700000000.png.reason.json", "cam1", 1_700_000_000),
            ("porch.east-1700000000.jpeg", "porch.east", 1_700_000_000),
            ("/threats/porch.east-1700000001.jpeg.json", "porch.east", 1_700_000_001),
            ("frontdoor_2.cam-5.jpg", "frontdoor_2.cam", 5),
        ] as [(String, String, Int64)])
    func aStoredFileNamesItsFrame(path: String, device: String, seconds: Int64) throws {
        let frame = try #require(ImageName.frame(ofPath: path))
        #expect(frame.device == device)
        #expect(frame.seconds == seconds)
    }

    @Test(arguments: [
        "", "/", "notes.txt", "/images/", "cam1-.jpg", "-1700000000.jpg", "cam1-17x0.jpg", "cam1-1700000000.jpgx",
        "cam1-1700000000.gif", "cam1-1700000000", "cam1-1700000000.", "cam1-99999999999999999999.jpg",
        "cam1_1700000000.jpg",
    ])
    func anyOtherFileNamesNoFrame(path: String) {
        #expect(ImageName.frame(ofPath: path) == nil)
    }

    /// Every name the contract accepts gives its own device and time back, as do the files made from it.
    @Test func everyValidNameGivesItsFrameBack() throws {
        var generator = SystemRandomNumberGenerator()
        let first = Array("abcXYZ019")
        let rest = Array("abz09_.")
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<12, using: &generator)
            let device =
                String(first.randomElement(using: &generator)!)
                + String((0..<length).map { _ in rest.randomElement(using: &generator)! })
            let seconds = Int64.random(in: 1...1_780_000_000, using: &generator)
            let name = "\(device)-\(seconds).\(["jpg", "jpeg", "png"].randomElement(using: &generator)!)"
            let parsed = try ImageName.parse(name)
            for path in [name, "/images/" + name, "/detections/\(name).json", "/invalid/\(name).reason.json"] {
                let frame = try #require(ImageName.frame(ofPath: path), "\(path)")
                #expect(frame.device == parsed.device, "\(path)")
                #expect(frame.seconds == parsed.seconds, "\(path)")
            }
        }
    }
}
