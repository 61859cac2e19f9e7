import CFacekd

/// Result of `Kernels.decodeHeatmaps`: n*k points (heatmap pixels) and peak scores, sample-major.
public struct DecodedHeatmaps: Equatable {
    public var points: [Point]
    public var scores: [Float]
}

/// A normalised face crop: `tensor` is [channels, size, size] (CHW, row-major) and
/// `cropToImage` maps crop pixels to image coordinates.
public struct Crop {
    public var tensor: [Float]
    public var size: Int
    public var channels: Int
    public var cropToImage: Affine
}

/// The facekd kernel set (one C API), with argument checks that throw `FacekdError`.
public enum Kernels {
    // MARK: Heatmap decoding

    /// Decodes heatmaps [n, k, height, width] (row-major) into n*k points in heatmap pixels.
    public static func decodeHeatmaps(_ heatmaps: UnsafeBufferPointer<Float>, n: Int, k: Int, height: Int,
                                      width: Int, params: DecodeParams = .default) throws -> DecodedHeatmaps {
        for (name, v) in [("n", n), ("k", k), ("height", height), ("width", width)] {
            try require(v > 0 && v <= Int(Int32.max), "\(name) must be positive, got \(v)")
        }
        let (count, overflow) = n.multipliedReportingOverflow(by: k * height * width)
        try require(!overflow && heatmaps.count == count,
                    "heatmaps has \(heatmaps.count) values, n*k*h*w = \(n)*\(k)*\(height)*\(width)")
        var coords = [Float](repeating: 0, count: n * k * 2)
        var scores = [Float](repeating: 0, count: n * k)
        var p = params.c
        try check(fk_decode_heatmaps(heatmaps.baseAddress, Int32(n), Int32(k), Int32(height), Int32(width),
                                     &p, &coords, &scores))
        return DecodedHeatmaps(points: points(from: coords), scores: scores)
    }

    /// Array convenience for `decodeHeatmaps(_:n:k:height:width:params:)`.
    public static func decodeHeatmaps(_ heatmaps: [Float], n: Int, k: Int, height: Int, width: Int,
                                      params: DecodeParams = .default) throws -> DecodedHeatmaps {
        try heatmaps.withUnsafeBufferPointer {
            try decodeHeatmaps($0, n: n, k: k, height: height, width: width, params: params)
        }
    }

    // MARK: Face crop

    /// The crop-to-image affine for a face box (`fk_box_to_affine`).
    public static func boxToAffine(_ box: FaceBox, scale: Float, rotationDegrees: Float = 0, flip: Bool = false,
                                   outSize: Int) throws -> Affine {
        try require(outSize > 0 && outSize <= Int(Int32.max), "outSize must be positive, got \(outSize)")
        var out = [Float](repeating: 0, count: 6)
        try check(fk_box_to_affine(box.array, scale, rotationDegrees, flip ? 1 : 0, Int32(outSize), &out))
        return try Affine(out)
    }

    /// Samples a crop through `cropToImage` into `out` (channels*S*S floats), e.g. a model's input buffer.
    public static func cropAffine(_ image: PixelImage, cropToImage: Affine, params: CropParams,
                                  into out: UnsafeMutableBufferPointer<Float>) throws {
        var p = try params.c()
        try requireOutput(out, params)
        var img = image.c
        try check(fk_crop_affine(&img, cropToImage.values, &p, out.baseAddress))
    }

    /// Samples a crop through `cropToImage` (`fk_crop_affine`).
    public static func cropAffine(_ image: PixelImage, cropToImage: Affine,
                                  params: CropParams = .default) throws -> Crop {
        var tensor = [Float](repeating: 0, count: params.channels * params.outSize * params.outSize)
        try tensor.withUnsafeMutableBufferPointer {
            try cropAffine(image, cropToImage: cropToImage, params: params, into: $0)
        }
        return Crop(tensor: tensor, size: params.outSize, channels: params.channels, cropToImage: cropToImage)
    }

    /// Crops a face box (validated: positive size, overlapping the image) into `out`; returns the affine used.
    @discardableResult
    public static func cropBox(_ image: PixelImage, box: FaceBox, scale: Float, rotationDegrees: Float = 0,
                               flip: Bool = false, params: CropParams,
                               into out: UnsafeMutableBufferPointer<Float>) throws -> Affine {
        var p = try params.c()
        try requireOutput(out, params)
        var img = image.c
        var affine = [Float](repeating: 0, count: 6)
        try check(fk_crop_box(&img, box.array, scale, rotationDegrees, flip ? 1 : 0, &p, out.baseAddress, &affine))
        return try Affine(affine)
    }

    /// Crops a face box (`fk_crop_box`).
    public static func cropBox(_ image: PixelImage, box: FaceBox, scale: Float, rotationDegrees: Float = 0,
                               flip: Bool = false, params: CropParams = .default) throws -> Crop {
        var tensor = [Float](repeating: 0, count: params.channels * params.outSize * params.outSize)
        let affine = try tensor.withUnsafeMutableBufferPointer {
            try cropBox(image, box: box, scale: scale, rotationDegrees: rotationDegrees, flip: flip,
                        params: params, into: $0)
        }
        return Crop(tensor: tensor, size: params.outSize, channels: params.channels, cropToImage: affine)
    }

    private static func requireOutput(_ out: UnsafeMutableBufferPointer<Float>, _ params: CropParams) throws {
        let needed = params.channels * params.outSize * params.outSize
        try require(out.baseAddress != nil && out.count >= needed,
                    "output buffer has \(out.count) floats, the crop needs \(needed)")
    }

    // MARK: Geometry

    /// Applies an affine to points (`fk_points_transform`).
    public static func transform(_ points: [Point], by affine: Affine) throws -> [Point] {
        var flat = flatten(points)
        try require(points.count <= Int(Int32.max), "too many points: \(points.count)")
        try check(fk_points_transform(flat, Int32(points.count), affine.values, &flat))
        return self.points(from: flat)
    }

    /// Heatmap pixels -> crop pixels -> image coordinates (`fk_heatmap_to_image`), no rounding.
    public static func heatmapToImage(_ points: [Point], heatmapWidth: Int, heatmapHeight: Int, inputWidth: Int,
                                      inputHeight: Int, cropToImage: Affine) throws -> [Point] {
        try require(points.count <= Int(Int32.max), "too many points: \(points.count)")
        for (name, v) in [("heatmapWidth", heatmapWidth), ("heatmapHeight", heatmapHeight),
                          ("inputWidth", inputWidth), ("inputHeight", inputHeight)] {
            try require(v > 0 && v <= Int(Int32.max), "\(name) must be positive, got \(v)")
        }
        var flat = flatten(points)
        try check(fk_heatmap_to_image(flat, Int32(points.count), Int32(heatmapWidth), Int32(heatmapHeight),
                                      Int32(inputWidth), Int32(inputHeight), cropToImage.values, &flat))
        return self.points(from: flat)
    }

    /// Tight box of the landmarks and the roll (degrees) of the eye-corner line
    /// (`fk_box_from_landmarks`); `eyeCorners` nil -> roll 0.
    public static func boxFromLandmarks(_ points: [Point], eyeCorners: (left: Int, right: Int)? = nil) throws
        -> (box: FaceBox, rollDegrees: Float) {
        try require(points.count <= Int(Int32.max), "too many points: \(points.count)")
        if let eyes = eyeCorners {
            try require(eyes.left >= 0 && eyes.left < points.count && eyes.right >= 0 && eyes.right < points.count,
                        "eye corner indices (\(eyes.left), \(eyes.right)) out of range for \(points.count) points")
        }
        var box = [Float](repeating: 0, count: 4)
        var roll: Float = 0
        try check(fk_box_from_landmarks(flatten(points), Int32(points.count), Int32(eyeCorners?.left ?? -1),
                                        Int32(eyeCorners?.right ?? -1), &box, &roll))
        return (FaceBox(x: box[0], y: box[1], width: box[2], height: box[3]), roll)
    }

    // MARK: Helpers

    static func flatten(_ points: [Point]) -> [Float] {
        var flat = [Float]()
        flat.reserveCapacity(points.count * 2)
        for p in points { flat.append(p.x); flat.append(p.y) }
        return flat
    }

    static func points(from flat: [Float]) -> [Point] {
        (0..<(flat.count / 2)).map { Point(x: flat[2 * $0], y: flat[2 * $0 + 1]) }
    }
}
