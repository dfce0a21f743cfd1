// swift-tools-version:6.1
// Fieldwatch: IoT predictive-maintenance gateway with an after-sales service desk.
// Data flows one way: broker → ingest → time-series core → detectors → service desk → store.
// The target graph below mirrors ../shared/docs/architecture.md; dependencies point inward.
import PackageDescription

let package = Package(
    name: "Fieldwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fieldwatch", targets: ["fieldwatch"]),
        .executable(name: "fieldwatch-sim", targets: ["fieldwatch-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // Runtime only: the Sparkplug B code is generated once and committed (see Sources/PayloadFormats/Protos).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C stays contained: only MQTT imports this.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .target(name: "FieldwatchCore"),
        .target(name: "Profiles", dependencies: ["FieldwatchCore", "Yams"]),
        .target(name: "TimeSeries", dependencies: ["FieldwatchCore"]),
        .target(name: "Detection", dependencies: ["TimeSeries", "FieldwatchCore"]),
        // Wire formats devices speak besides Fieldwatch's JSON: Sparkplug B, SenML (JSON, CBOR).
        .target(
            name: "PayloadFormats",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"]
        ),
        .target(
            name: "MQTT",
            dependencies: ["CMosquitto", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Ingest",
            dependencies: [
                "MQTT", "TimeSeries", "Detection", "Profiles", "PayloadFormats", "FieldwatchCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Storage",
            dependencies: [
                "FieldwatchCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ServiceDesk",
            dependencies: [
                "Storage", "Profiles", "FieldwatchCore", "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // People-facing HTTP: the only importer of Hummingbird.
        .target(
            name: "HTTPAPI",
            dependencies: [
                "ServiceDesk", "Storage", "TimeSeries", "Profiles", "FieldwatchCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Dashboard")]
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "FieldwatchCore", "Profiles", "TimeSeries", "Detection", "MQTT", "Ingest",
                "Storage", "ServiceDesk", "HTTPAPI", "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "fieldwatch",
            dependencies: [
                "Gateway", "Profiles", "Storage", "ServiceDesk", "Detection", "Ingest", "MQTT", "TimeSeries", "FieldwatchCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fieldwatch-sim",
            dependencies: [
                "MQTT", "Profiles", "PayloadFormats", "FieldwatchCore", "Yams", "ServiceDesk", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Simulator",
            exclude: ["demo-site.yaml", "demo.yaml", "formats-site.yaml", "README.md"]
        ),
        .target(name: "FieldwatchTesting", dependencies: ["FieldwatchCore"]),
        // `make fuzz`: libFuzzer targets for the decoders and loaders (see Fuzz/FuzzTargets.swift).
        .executableTarget(
            name: "fieldwatch-fuzz",
            dependencies: [
                "Ingest", "MQTT", "Profiles", "PayloadFormats", "ServiceDesk", "TimeSeries", "FieldwatchCore", "FieldwatchTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz"
        ),
        // `make bench`: release build only; never part of `make test`.
        .executableTarget(
            name: "fieldwatch-bench",
            dependencies: [
                "Gateway", "MQTT", "Ingest", "PayloadFormats", "Profiles", "TimeSeries", "Detection", "ServiceDesk", "Storage", "FieldwatchCore", "FieldwatchTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks"
        ),

        .testTarget(name: "ProfilesTests", dependencies: ["Profiles", "FieldwatchTesting"]),
        .testTarget(name: "TimeSeriesTests", dependencies: ["TimeSeries"]),
        .testTarget(name: "DetectionTests", dependencies: ["Detection"]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "PayloadFormats", "FieldwatchTesting"]),
        .testTarget(name: "PayloadFormatsTests", dependencies: ["PayloadFormats", "FieldwatchTesting"]),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "ServiceDesk", "FieldwatchTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "ServiceDeskTests",
            dependencies: ["ServiceDesk", "Storage", "FieldwatchTesting", "Profiles", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "HTTPAPITests",
            dependencies: ["HTTPAPI", "ServiceDesk", "Storage", "TimeSeries", "FieldwatchTesting"]
        ),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT", "FieldwatchTesting"]),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "MQTT", "Storage", "ServiceDesk", "Profiles", "Ingest", "PayloadFormats", "TimeSeries", "FieldwatchTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
