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
}
