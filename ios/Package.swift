// swift-tools-version:5.9
// facekd for Apple platforms: the C kernel set (compiled from ../csrc through symlinks, no copies)
// and a Swift layer over its one C API. Builds and tests on Linux too (`swift build`, `swift test`).
import Foundation
import PackageDescription

/// The library version, read from ../pyproject.toml (the single source of the version number).
let facekdVersion: String = {
    let pyproject = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("pyproject.toml")
    guard let text = try? String(contentsOf: pyproject, encoding: .utf8) else { return "unknown" }
    for line in text.split(separator: "\n") where line.hasPrefix("version = \"") {
        return String(line.dropFirst("version = \"".count).prefix { $0 != "\"" })
    }
    return "unknown"
}()

let package = Package(
    name: "Facekd",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Facekd", targets: ["Facekd"]),
    ],
    targets: [
        // The C++ kernels behind the C API. `src` and `include/facekd` are symlinks into ../csrc.
        .target(
            name: "CFacekd",
            path: "Sources/CFacekd",
            sources: ["src"],
            publicHeadersPath: "include",
            cxxSettings: [
                .headerSearchPath("src"),
                .headerSearchPath("json"),  // nlohmann/json (vendored in csrc/third_party): the card parser
                .define("FACEKD_VERSION", to: "\"\(facekdVersion)\""),
                .define("NDEBUG", .when(configuration: .release)),
            ]
        ),
        .target(name: "Facekd", dependencies: ["CFacekd"], path: "Sources/Facekd"),
        .testTarget(name: "FacekdTests", dependencies: ["Facekd"], path: "Tests/FacekdTests",
                    exclude: ["Fixtures"]),
    ],
    cxxLanguageStandard: .cxx17
)
