import Foundation

/// Reader of the golden-vector files in tests/golden/ (format: tests/golden/README.md):
/// `facekd-golden 1`, then `case <kernel> <name>` / `<key> <dtype> <shape...> : <values...>` / `end`.
struct GoldenField {
    let dtype: String
    let shape: [Int]
    let values: [Double]

    var floats: [Float] { values.map { Float($0) } }
    var ints: [Int] { values.map { Int($0) } }
    var bytes: [UInt8] { values.map { UInt8($0) } }
}

struct GoldenCase {
    let kernel: String
    let name: String
    var fields: [String: GoldenField] = [:]

    var id: String { "\(kernel) \(name)" }

    func has(_ key: String) -> Bool { fields[key] != nil }

    func field(_ key: String) throws -> GoldenField {
        guard let f = fields[key] else { throw GoldenError("case \(id): missing field '\(key)'") }
        return f
    }

    func floats(_ key: String) throws -> [Float] { try field(key).floats }
    func ints(_ key: String) throws -> [Int] { try field(key).ints }

    func scalar(_ key: String) throws -> Double {
        let f = try field(key)
        guard f.values.count == 1 else { throw GoldenError("case \(id): field '\(key)' is not a scalar") }
        return f.values[0]
    }

    func int(_ key: String) throws -> Int { Int(try scalar(key)) }
    func float(_ key: String) throws -> Float { Float(try scalar(key)) }
}

struct GoldenError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum GoldenFile {
    /// tests/golden/ of this checkout.
    static let directory = repoRoot.appendingPathComponent("tests/golden")

    /// Every case of every `*.txt` file in tests/golden/, sorted by file name.
    static func allCases() throws -> [GoldenCase] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".txt") }.sorted()
        return try names.flatMap { try read(directory.appendingPathComponent($0)) }
    }

    static func read(_ url: URL) throws -> [GoldenCase] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var cases: [GoldenCase] = []
        var current: GoldenCase?
        var header = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let where_ = "\(url.lastPathComponent):\(index + 1)"
            let tokens = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = tokens.first, !first.hasPrefix("#") else { continue }
            if !header {
                guard tokens == ["facekd-golden", "1"] else { throw GoldenError("\(where_): expected 'facekd-golden 1'") }
                header = true
            } else if first == "case" {
                guard current == nil else { throw GoldenError("\(where_): 'case' inside a case") }
                guard tokens.count == 3 else { throw GoldenError("\(where_): expected 'case <kernel> <name>'") }
                current = GoldenCase(kernel: tokens[1], name: tokens[2])
            } else if first == "end" {
                guard let c = current else { throw GoldenError("\(where_): 'end' outside a case") }
                cases.append(c)
                current = nil
            } else {
                guard current != nil else { throw GoldenError("\(where_): field outside a case") }
                guard tokens.count >= 3, let colon = tokens.firstIndex(of: ":") else {
                    throw GoldenError("\(where_): expected '<key> <dtype> <shape...> : <values...>'")
                }
                let dtype = tokens[1]
                guard ["i32", "f32", "f64", "u8"].contains(dtype) else { throw GoldenError("\(where_): unknown dtype \(dtype)") }
                let shape = try tokens[2..<colon].map { (t: String) -> Int in
                    guard let v = Int(t) else { throw GoldenError("\(where_): bad shape entry '\(t)'") }
                    return v
                }
                let values = try tokens[(colon + 1)...].map { (t: String) -> Double in
                    guard let v = Double(t) ?? special(t) else { throw GoldenError("\(where_): bad value '\(t)'") }
                    return v
                }
                guard values.count == shape.reduce(1, *) else {
                    throw GoldenError("\(where_): field \(first): \(values.count) values for shape \(shape)")
                }
                current!.fields[first] = GoldenField(dtype: dtype, shape: shape, values: values)
            }
        }
        if current != nil { throw GoldenError("\(url.lastPathComponent): missing 'end'") }
        if !header { throw GoldenError("\(url.lastPathComponent): empty file") }
        return cases
    }

    /// %.9g spellings of non-finite values.
    private static func special(_ t: String) -> Double? {
        switch t.lowercased() {
        case "nan", "-nan": return .nan
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return nil
        }
    }
}
