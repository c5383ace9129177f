import Foundation
import Testing
import VigilStore

@testable import VigilServer

@Suite("errors to HTTP statuses, in one place")
struct ErrorStatusTests {
    @Test(arguments: [
        (VigilError.Code.repoNotFound, 404), (.pathNotFound, 404), (.blobNotFound, 404), (.badAddress, 400),
        (.badName, 400), (.repoExists, 409), (.pathConflict, 409), (.diskFull, 507), (.databaseUnavailable, 503),
        (.s3Unreachable, 503), (.io, 503), (.corruptData, 500), (.schemaTooNew, 500), (.databaseError, 500),
    ])
    func aStoreErrorKeepsItsMeaning(code: VigilError.Code, status: Int) throws {
        let answer = try #require(ErrorStatus.apiError(for: VigilError(code, "detail for the log", value: "/x")))
        #expect(Int(answer.status.code) == status)
        if status >= 500 {
            // The client is told what kind of failure, never the detail (paths, buckets, hosts).
            #expect(!answer.message.contains("detail for the log"))
            #expect((answer.retryAfter != nil) == (status == 503 || status == 507))
        } else {
            #expect(answer.code == code.rawValue && answer.message == "detail for the log" && answer.value == "/x")
        }
    }

    @Test func aFullDiskFromTheSystemIs507AndOtherErrorsAreLeftAlone() throws {
        #expect(ErrorStatus.apiError(for: POSIXError(.ENOSPC))?.status.code == 507)
        #expect(ErrorStatus.apiError(for: CocoaError(.fileWriteOutOfSpace))?.status.code == 507)
        #expect(ErrorStatus.apiError(for: POSIXError(.EIO))?.status.code == 503)
        #expect(ErrorStatus.apiError(for: APIError.notFound("kept")) == nil)
        #expect(ErrorStatus.apiError(for: CancellationError()) == nil)
    }
}
