import Foundation
import Testing
import VigilStore

/// AWS's published Signature Version 4 vectors: the test suite's (`AKIDEXAMPLE`, service `service`,
/// 20150830T123600Z) and the S3 developer guide's `GET /test.txt` with a Range. Each checks the canonical
/// request, the string to sign and the signature, so a mismatch says which step went wrong.
@Suite("SigV4 signer")
struct SigV4SignerTests {
    static let suite = SigV4Signer(
        accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1",
        service: "service")
    static let base: [(name: String, value: String)] = [
        ("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"),
    ]

    @Test func getVanilla() {
        let signed = Self.suite.sign(
            .init(method: "GET", path: "/", headers: Self.base, payloadHash: SigV4Signer.emptyPayloadHash),
            timestamp: "20150830T123600Z")
        #expect(
            signed.canonicalRequest == """
                GET
                /

                host:example.amazonaws.com
                x-amz-date:20150830T123600Z

                host;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(
            signed.stringToSign == """
                AWS4-HMAC-SHA256
                20150830T123600Z
                20150830/us-east-1/service/aws4_request
                bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
                """)
        #expect(signed.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(
            signed.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                + "SignedHeaders=host;x-amz-date, "
                + "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func getVanillaQueryOrderKeyCase() {
        // GET /?Param2=value2&Param1=value1: the canonical query is sorted by name.
        let signed = Self.suite.sign(
            .init(
                method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: Self.base,
                payloadHash: SigV4Signer.emptyPayloadHash),
            timestamp: "20150830T123600Z")
        #expect(
            signed.canonicalRequest == """
                GET
                /
                Param1=value1&Param2=value2
                host:example.amazonaws.com
                x-amz-date:20150830T123600Z

                host;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(
            signed.stringToSign.hasSuffix("\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"))
        #expect(signed.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func postXWWWFormURLEncoded() {
        // A signed body (Param1=value1) and a signed Content-Type.
        let bodyHash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        #expect(BlobHash(of: Data("Param1=value1".utf8)).hex == bodyHash)
        let signed = Self.suite.sign(
            .init(
                method: "POST", path: "/",
                headers: [("Content-Type", "application/x-www-form-urlencoded")] + Self.base, payloadHash: bodyHash),
            timestamp: "20150830T123600Z")
        #expect(
            signed.canonicalRequest == """
                POST
                /

                content-type:application/x-www-form-urlencoded
                host:example.amazonaws.com
                x-amz-date:20150830T123600Z

                content-type;host;x-amz-date
                9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e
                """)
        #expect(
            signed.stringToSign.hasSuffix("\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"))
        #expect(signed.signature == "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
    }

    @Test func s3GetObjectWithRangeFromTheDeveloperGuide() {
        let signer = SigV4Signer(
            accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1", service: "s3")
        let signed = signer.sign(
            .init(
                method: "GET", path: "/test.txt",
                headers: [
                    ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                    ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
                ], payloadHash: SigV4Signer.emptyPayloadHash),
            timestamp: "20130524T000000Z")
        #expect(
            signed.canonicalRequest == """
                GET
                /test.txt

                host:examplebucket.s3.amazonaws.com
                range:bytes=0-9
                x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                x-amz-date:20130524T000000Z

                host;range;x-amz-content-sha256;x-amz-date
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
                """)
        #expect(
            signed.stringToSign == """
                AWS4-HMAC-SHA256
                20130524T000000Z
                20130524/us-east-1/s3/aws4_request
                7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
                """)
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func pathsAndQueriesAreEncodedOnceAsS3Expects() {
        #expect(SigV4Signer.uriEncode("a b/c~d_e.f-g+h=") == "a%20b%2Fc~d_e.f-g%2Bh%3D")
        #expect(SigV4Signer.uriEncode("é") == "%C3%A9")
    }

    @Test func timestampsAreUTC() {
        #expect(SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_440_938_160)) == "20150830T123600Z")
    }
}
