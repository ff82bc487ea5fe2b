// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MultiPAR",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "par", targets: ["par"]),
        .executable(name: "par-bench", targets: ["par-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", exact: "2.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", exact: "0.9.20"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        // The CLI's tables and colour.
        .package(url: "https://github.com/ordo-one/TextTable.git", exact: "0.0.2"),
        .package(url: "https://github.com/onevcat/Rainbow.git", exact: "4.2.2"),
    ],
    targets: [
        /// Thin C shims for the Linux syscalls Glibc does not expose (pidfd, epoll, posix_spawn extras).
        .target(name: "CPARSys"),
        /// Pure policy and data: no processes, no sockets, no files.
        .target(name: "PARCore"),
        /// APKG reading, safe extraction, manifest, launch plan.
        .target(name: "PARPackages", dependencies: [
            "PARCore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        /// The kernel side: spawning, reaping, signals, pipes, /proc sampling.
        .target(name: "PARProcess", dependencies: ["CPARSys", "PARCore"]),
        /// Logs: parsing, the durable block store (SQLite), queries, retention, live tails.
        .target(name: "PARLogs", dependencies: [
            "PARCore", "CPARSys",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        /// `par serve --config`: the YAML file of options and agents, with line-numbered errors.
        .target(name: "PARConfig", dependencies: [
            "PARCore",
            .product(name: "Yams", package: "Yams"),
        ]),
        /// One state machine per agent joining policy (PARCore) to mechanism (PARProcess);
        /// desired state persisted (GRDB) and reconciled at start and on reload.
        .target(name: "PARSupervisor", dependencies: [
            "PARCore", "PARPackages", "PARProcess", "PARLogs",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        /// HTTP: management API, auth, errors.
        .target(name: "PARServer", dependencies: [
            "PARCore", "PARSupervisor", "PARLogs", "CPARSys",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        /// A small blocking HTTP/1.1 client for the loopback daemon: the CLI, tests and bench use it.
        .target(name: "PARClient"),
        .executableTarget(
            name: "par",
            dependencies: [
                "PARServer", "PARSupervisor", "PARClient", "PARConfig",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TextTable", package: "TextTable"),
                .product(name: "Rainbow", package: "Rainbow"),
            ]
        ),
        .executableTarget(name: "par-bench", dependencies: [
            "PARClient", "PARTestKit", "PARSupervisor",
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        /// Shared by tests and the bench tool: building APKGs, starting a daemon, /proc checks.
        .target(name: "PARTestKit", dependencies: [
            "PARClient", "PARProcess",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        .testTarget(name: "PARCoreTests", dependencies: ["PARCore"]),
        .testTarget(name: "PARPackagesTests", dependencies: ["PARPackages", "PARTestKit"]),
        .testTarget(name: "PARProcessTests", dependencies: ["PARProcess", "CPARSys", "PARTestKit"]),
        .testTarget(name: "PARLogsTests", dependencies: ["PARLogs", "PARCore"]),
        .testTarget(name: "PARConfigTests", dependencies: ["PARConfig", "PARCore"]),
        .testTarget(name: "PARSupervisorTests", dependencies: ["PARSupervisor", "PARCore"]),
        .testTarget(name: "PARServerTests", dependencies: [
            "PARServer",
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "PAREndToEndTests", dependencies: [
            "PARClient", "PARTestKit", "PARCore",
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        ]),
    ]
)
