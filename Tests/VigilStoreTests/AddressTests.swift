import Testing
import VigilStore

@Suite("Addresses")
struct AddressTests {
    @Test(arguments: [
        ("images", Address(repo: "images")),
        ("images@master", Address(repo: "images", ref: "master")),
        ("images:/cam1-1.jpg", Address(repo: "images", path: "/cam1-1.jpg")),
        ("images@master:/a/b/", Address(repo: "images", ref: "master", path: "/a/b")),
        ("images@master^2:/a", Address(repo: "images", ref: "master^2", path: "/a")),
        ("images@9f3ab2c1", Address(repo: "images", ref: "9f3ab2c1")),
        ("images@master^^", Address(repo: "images", ref: "master^^")),
        ("images@master^10000", Address(repo: "images", ref: "master^10000")),
        ("images:a//b", Address(repo: "images", path: "/a/b")),
        ("my_repo-2@v1.0", Address(repo: "my_repo-2", ref: "v1.0")),
    ])
    func validAddressesParse(text: String, expected: Address) throws {
        #expect(try Address.parse(text) == expected)
    }

    @Test(arguments: [
        ("", VigilError.Code.badName),
        ("-images", .badName),
        ("ima ges", .badName),
        ("images@", .badAddress),
        ("images@mas ter", .badName),
        ("images@master^x", .badAddress),
        // Walks are bounded: each step reads a commit.
        ("images@master^10001", .badAddress),
        ("images@master^5000^5000^", .badAddress),
        ("images@master^99999999999999999999999", .badAddress),
        ("images:/../etc/passwd", .badAddress),
        ("images:/a/./b", .badAddress),
        ("images@master:/a\\b", .badAddress),
    ])
    func invalidAddressesSayWhatIsWrong(text: String, code: VigilError.Code) throws {
        let error = #expect(throws: VigilError.self) { try Address.parse(text) }
        #expect(error?.code == code)
        #expect(error?.message.isEmpty == false)
    }

    @Test func addressesPrintAsTheyParse() throws {
        for text in ["images", "images@master", "images@master^2:/a/b", "images:/x.jpg"] {
            #expect(try Address.parse(text).description == text)
        }
    }
}
