import Foundation
import PARProcess
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A /proc/PID/stat line: `comm` as given, then fields 3... with recognisable values.
func statLine(pid: Int = 4242, comm: String) -> String {
    // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice num_threads itrealvalue starttime vsize rss ...
    "\(pid) (\(comm)) S 17 4242 4300 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 6 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
}

@Suite("ProcTable")
struct ProcTableTests {
    @Test func parsesTheFieldsAfterTheCommandName() throws {
        let stat = try #require(ProcTable.parseStat(statLine(comm: "python3")))
        #expect(stat.state == "S")
        #expect(stat.parent == 17)
        #expect(stat.session == 4300)
        #expect(stat.userTicks == 250)
        #expect(stat.systemTicks == 75)
        #expect(stat.threads == 6)
        #expect(stat.startTicks == 123456)
        #expect(stat.virtualBytes == 987654321)
        #expect(stat.residentPages == 2048)
    }

    @Test(arguments: ["my agent", "a) S 1 2 (b", "((x))", ")", "sp ace) (paren"])
    func aCommandNameWithSpacesAndParenthesesDoesNotShiftTheFields(comm: String) throws {
        let stat = try #require(ProcTable.parseStat(statLine(comm: comm)))
        #expect(stat.parent == 17)
        #expect(stat.session == 4300)
        #expect(stat.residentPages == 2048)
    }

    @Test(arguments: ["", "garbage", "1 (x) S 1 2", "1 (x) S notanumber 2 3 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1"])
    func aMalformedLineGivesNil(text: String) {
        #expect(ProcTable.parseStat(text) == nil)
    }

    @Test func readsThisProcessFromProc() throws {
        let stat = try #require(ProcTable.stat(of: getpid()))
        #expect(stat.parent == getppid())
        #expect(stat.session == getsid(0))
        #expect(stat.threads >= 1)
        #expect(stat.residentPages > 0)
    }

    @Test func aProcessThatDoesNotExistHasNoStat() {
        // pid_max is at most 2^22 on Linux.
        #expect(ProcTable.stat(of: 1 << 23) == nil)
    }
}

@Suite("PortProbe")
struct PortProbeTests {
    /// Binds 127.0.0.1 on a port of a block reserved below the kernel's ephemeral range
    /// and listens; returns the fd and the port. An ephemeral port would race: once
    /// closed, any parallel test's outgoing connection may take it before the probe.
    func listen() throws -> (fd: Int32, port: Int) {
        let reserved = DaemonHarness.reservePortRange(count: 1).lowerBound
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        // The block may have been an earlier test's, whose closed connections leave the port
        // in TIME_WAIT for a minute: as a server does, bind anyway (a listener still refuses).
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(reserved).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0)
        try #require(Glibc.listen(fd, 4) == 0)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try #require(named == 0)
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }

    @Test func aPortWithAListenerIsNotFree() throws {
        let (fd, port) = try listen()
        defer { close(fd) }
        #expect(!PortProbe.isFree(port))
    }

    @Test func aPortIsFreeAgainOnceTheListenerCloses() throws {
        let (fd, port) = try listen()
        close(fd)
        #expect(PortProbe.isFree(port))
    }

    @Test func probingDoesNotHoldThePort() throws {
        let (fd, port) = try listen()
        close(fd)
        _ = PortProbe.isFree(port)
        #expect(PortProbe.isFree(port))
    }
}
