import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// `vigil serve` with its data folder on a small tmpfs (mounting needs root) that fills up: uploads are
    /// answered 507 with nothing half-stored, and succeed again once space returns.
    @Suite(
        "vigil serve on a full disk", .serialized,
        .enabled(if: geteuid() == 0, "mounting a small tmpfs for the data folder needs root"))
    struct DiskFullCLITests {
        /// Bytes free on the filesystem holding `path`.
        static func freeBytes(_ path: String) -> Int {
            var info = statvfs()
            guard statvfs(path, &info) == 0 else { return 0 }
            return Int(info.f_bavail) * Int(info.f_frsize)
        }

        @Test func anUploadToAFullDiskIs507AndNothingIsStoredUntilSpaceReturns() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let disk = root.appendingPathComponent("disk")
            try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
            let mounted = try ServeLimitsCLITests.shell("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk.path)
            try #require(mounted == 0, "cannot mount a tmpfs at \(disk.path)")
            defer { _ = try? ServeLimitsCLITests.shell("umount", "-l", disk.path) }

            let (vigil, token) = try await ServeLimitsCLITests.prepare(disk)
            let server = try await SharedDeploymentCLITests.serve(vigil, name: "serve", root: root, options: [])
            defer { _ = server.stop() }
            let frame = try ServeLimitsCLITests.frame
            // Fill the disk but for less than one frame.
            let filler = disk.appendingPathComponent("filler")
            let leave = frame.count / 4
            try Data(count: max(0, Self.freeBytes(disk.path) - leave)).write(to: filler)
            #expect(Self.freeBytes(disk.path) < frame.count)

            let refused = try SharedDeploymentCLITests.request(
                port: server.port, "PUT", "/v1/images/cam-1700000000.jpg", token: token, body: frame)
            #expect(refused.status == 507, "\(refused.status) \(refused.body)")
            #expect(refused.body.contains("disk-full"), "\(refused.body)")
            let listed = try await SharedDeploymentCLITests.request(
                port: server.port, "GET", "/v1/repos/images/files/", token: try Self.admin(vigil))
            #expect(!listed.body.contains("cam-1700000000.jpg"), "\(listed.body)")

            // Space returns: the same upload goes through, on the same running server.
            try FileManager.default.removeItem(at: filler)
            let stored = try SharedDeploymentCLITests.request(
                port: server.port, "PUT", "/v1/images/cam-1700000000.jpg", token: token, body: frame)
            #expect(stored.status == 201, "\(stored.status) \(stored.body)")
            #expect(try await server.stopped() == 0)
            #expect(try await ServeLimitsCLITests.imageNames(vigil) == ["cam-1700000000.jpg"])
            let check = try await vigil.run(["fsck"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
        }

        static func admin(_ vigil: VigilProcess) async throws -> String {
            try await vigil.run(["token", "create", "--role", "admin"]).output.trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
    }
}
