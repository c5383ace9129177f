/// Every failure the store reports: a stable machine-readable code, a sentence for people that says what was
/// wrong and how to fix it, and the offending value, so the CLI and the HTTP API can print it without stack noise.
public struct VigilError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case badAddress = "bad-address"
        case badName = "bad-name"
        case badPath = "bad-path"
        case repoNotFound = "repo-not-found"
        case repoExists = "repo-exists"
        case branchNotFound = "branch-not-found"
        case branchExists = "branch-exists"
        case commitNotFound = "commit-not-found"
        case ambiguousCommit = "ambiguous-commit"
        case pathNotFound = "path-not-found"
        case pathConflict = "path-conflict"
        case notAFile = "not-a-file"
        case blobNotFound = "blob-not-found"
        case corruptData = "corrupt-data"
        case io = "io"
        /// The disk (or the quota) is full: nothing was half-written; free space and try again.
        case diskFull = "disk-full"
        case notInitialized = "not-initialized"
        case badArgument = "bad-argument"
        /// The file's bytes were erased for good (`vigil erase`); its name, size and hash remain in history.
        case erased = "erased"
        case commitClosed = "commit-closed"
        /// No customer of that id in the rules (now or in their history).
        case customerNotFound = "customer-not-found"
        /// No legal hold with that id (`vigil hold list --all` lists them).
        case holdNotFound = "hold-not-found"
        /// The id prefix given starts more than one hold's id: give more of it.
        case ambiguousHold = "ambiguous-hold"
        /// The hold was released already: a release is final; place a new hold to keep the data again.
        case holdReleased = "hold-released"
        /// The data asked for is under a legal hold: it cannot be erased until the hold is released.
        case held = "held"
        /// A verdict on an alert that is not `confirmed` or `false-alarm`, or with a label or note out of bounds.
        case badVerdict = "bad-verdict"
        /// S3 refused the credentials or the request (403): the S3 error code is in the message.
        case s3AccessDenied = "s3-access-denied"
        /// The configured bucket does not exist on the endpoint.
        case s3BucketNotFound = "s3-bucket-not-found"
        /// No answer from the endpoint after every retry (refused, reset, timed out, 5xx).
        case s3Unreachable = "s3-unreachable"
        /// Any other S3 error response, with its code.
        case s3Error = "s3-error"
        /// The store configuration (`--store`, `--s3-*`, `config.json`, the environment) is unusable.
        case badConfiguration = "bad-configuration"
        /// The database server does not answer (refused, gone, no answer within the deadline, shutting down).
        case databaseUnavailable = "database-unavailable"
        /// The database server refused the user or the password.
        case databaseAuthFailed = "database-auth-failed"
        /// The server answers, but the named database does not exist on it.
        case databaseNotFound = "database-not-found"
        /// The database was migrated by a newer Vigil than this one: upgrade this one before it touches it.
        case schemaTooNew = "schema-too-new"
        /// Any other error the database server reports, with its SQLSTATE.
        case databaseError = "database-error"
    }

    public var code: Code
    public var message: String
    /// The value that was wrong (a name, a path, an address), when there is one.
    public var value: String?

    public init(_ code: Code, _ message: String, value: String? = nil) {
        self.code = code
        self.message = message
        self.value = value
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}

extension VigilError {
    static func repoNotFound(_ name: String) -> VigilError {
        VigilError(.repoNotFound, "no repo named '\(name)'; `vigil repo list` shows the repos there are", value: name)
    }

    static func erased(_ file: String, by erasure: ErasureInfo) -> VigilError {
        VigilError(
            .erased,
            "\(file) was erased on \(erasure.time.formatted(.iso8601)) at the request of \(erasure.requester): "
                + "\(erasure.reason) (its name, size and hash remain in history, its bytes do not)", value: file)
    }

    static func pathNotFound(_ path: String, in place: String) -> VigilError {
        VigilError(.pathNotFound, "no file or directory '\(path)' in \(place)", value: path)
    }

    static func io(_ operation: String, _ path: String, errno code: Int32) -> VigilError {
        if code == ENOSPC || code == EDQUOT {
            return VigilError(
                .diskFull,
                "\(operation) '\(path)' failed: \(String(cString: strerror(code))); free space (`vigil gc` removes "
                    + "what no commit needs) and try again", value: path)
        }
        return VigilError(.io, "\(operation) '\(path)' failed: \(String(cString: strerror(code)))", value: path)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
