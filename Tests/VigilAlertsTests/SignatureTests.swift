import Foundation
import Testing
import VigilAlerts

@Suite("Alert signatures")
struct SignatureTests {
    let signature = try! AlertSignature(secret: testSecret)
    let body = Data(#"{"alertId":"a1"}"#.utf8)

    @Test func signsTheBodyWithHMACSHA256() {
        // The value Python's hmac.new(secret, body, hashlib.sha256).hexdigest() gives.
        #expect(signature.sign(body) == "sha256=ca204287788f0203cfd77efd31e7eef00b1d7593d31333027e56eb7dafc1454c")
    }

    @Test func verifiesOnlyTheExactBodyUnderTheSameSecret() throws {
        let header = signature.sign(body)
        #expect(signature.verify(body, header: header))
        #expect(!signature.verify(Data(#"{"alertId":"a2"}"#.utf8), header: header))
        #expect(!(try AlertSignature(secret: testSecret + "x")).verify(body, header: header))
        #expect(!signature.verify(body, header: nil))
        #expect(!signature.verify(body, header: String(header.dropFirst(7))))
        #expect(!signature.verify(body, header: "sha256=zz" + header.dropFirst(9)))
        #expect(!signature.verify(body, header: header + "00"))
    }

    @Test func refusesAShortSecret() {
        #expect {
            try AlertSignature(secret: "  short \n")
        } throws: { error in
            (error as? AlertError)?.code == .badConfiguration
                && (error as? AlertError)?.message.contains("has 5 bytes") == true
        }
    }

    @Test func theSinkRefusesAWrongSignatureAndKeepsNothing() async throws {
        try await withSink { sink, url in
            let forged = try HTTPAlertTransport(
                url: url, signature: try AlertSignature(secret: "another-secret-of-enough-bytes"), timeout: 10)
            let honest = try transport(url)
            let alert = try AlertPayload(
                alert: AlertInfo(
                    id: "00aa", state: .open, level: 0, customer: "acme", device: "frontdoor", time: 1,
                    threat: "threats@c0ffee:/frontdoor/frontdoor-1763800000.jpg.json", record: threatRecord(),
                    created: Date()),
                level: 0,
                image: .init(name: "x.jpg", width: 1, height: 1, bytes: 1, sha256: "00", address: "threats@c:/x.jpg")
            ).encoded()
            let outgoing = OutgoingAlert(idempotencyKey: "00aa-0", body: alert, attempt: 1)
            let outcome = await forged.send(outgoing)
            if case .rejected(401, let reason) = outcome {
                #expect(reason.contains("missing or wrong X-Vigil-Signature"))
            } else {
                Issue.record("a forged alert got \(outcome), not a 401 refusal")
            }
            #expect(sink.stats.badSignatures == 1)
            #expect(sink.received.isEmpty)
            #expect(await honest.send(outgoing) == .delivered(status: 201))
            #expect(await honest.send(outgoing) == .delivered(status: 200))
            #expect(sink.received.map(\.idempotencyKey) == ["00aa-0"])
            #expect(sink.stats.duplicates == 1)
            await forged.shutdown()
            await honest.shutdown()
        }
    }

    @Test func aTransportDroppedWithoutShutdownLetsGoOfItsClient() async throws {
        // On a test's (or a caller's) error path the transport may never be shut down; that must not trip
        // AsyncHTTPClient's debug assertion, which would end the whole process.
        try await withSink { sink, url in
            var transport: HTTPAlertTransport? = try transport(url)
            let body = try AlertPayload(
                alert: AlertInfo(
                    id: "00bb", state: .open, level: 0, customer: "acme", device: "frontdoor", time: 1,
                    threat: "threats@c0ffee:/frontdoor/frontdoor-1763800000.jpg.json", record: threatRecord(),
                    created: Date()),
                level: 0,
                image: .init(name: "x.jpg", width: 1, height: 1, bytes: 1, sha256: "00", address: "threats@c:/x.jpg")
            ).encoded()
            #expect(
                await transport?.send(.init(idempotencyKey: "00bb-0", body: body, attempt: 1))
                    == .delivered(status: 201))
            transport = nil
            try await Task.sleep(for: .milliseconds(200))
            #expect(sink.received.count == 1)
        }
    }
}
