import CFacekd

/// A non-owning view of an image in memory: packed pixels (RGB/BGR/RGBA/BGRA/gray) or bi-planar
/// YUV 4:2:0 (NV12/NV21) with its own chroma plane and stride, e.g. the planes of a locked
/// `CVPixelBuffer`. The memory must stay valid while a kernel uses the view.
public struct PixelImage {
    public let width: Int
    public let height: Int
    /// Bytes between rows of the first plane.
    public let stride: Int
    public let format: PixelFormat
    let plane: UnsafeRawBufferPointer
    let chroma: UnsafeRawBufferPointer?
    let chromaStride: Int

    /// Packed pixels (`format` not NV12/NV21). Throws if the buffer is too small for
    /// `height` rows of `stride` bytes (the last row needs only `width * bytesPerPixel`).
    public init(packed data: UnsafeRawBufferPointer, width: Int, height: Int, stride: Int,
                format: PixelFormat) throws {
        try require(!format.isBiPlanar, "\(format) is bi-planar: use init(luma:lumaStride:chroma:chromaStride:...)")
        try PixelImage.checkPlane(data, rows: height, rowBytes: width * format.bytesPerPixel,
                                  stride: stride, name: "data", width: width, height: height)
        self.width = width; self.height = height; self.stride = stride; self.format = format
        self.plane = data; self.chroma = nil; self.chromaStride = 0
    }

    /// Bi-planar YUV 4:2:0: the Y plane and the interleaved chroma plane (ceil(h/2) rows of
    /// ceil(w/2) pairs, U,V for NV12 and V,U for NV21), each with its own row stride.
    public init(luma: UnsafeRawBufferPointer, lumaStride: Int, chroma: UnsafeRawBufferPointer,
                chromaStride: Int, width: Int, height: Int, format: PixelFormat) throws {
        try require(format.isBiPlanar, "\(format) is not bi-planar: use init(packed:...)")
        try PixelImage.checkPlane(luma, rows: height, rowBytes: width, stride: lumaStride, name: "luma",
                                  width: width, height: height)
        try PixelImage.checkPlane(chroma, rows: (height + 1) / 2, rowBytes: 2 * ((width + 1) / 2),
                                  stride: chromaStride, name: "chroma", width: width, height: height)
        self.width = width; self.height = height; self.stride = lumaStride; self.format = format
        self.plane = luma; self.chroma = chroma; self.chromaStride = chromaStride
    }

    private static func checkPlane(_ buffer: UnsafeRawBufferPointer, rows: Int, rowBytes: Int, stride: Int,
                                   name: String, width: Int, height: Int) throws {
        try require(width > 0 && height > 0 && width <= Int(Int32.max) && height <= Int(Int32.max),
                    "image size must be positive, got \(width)x\(height)")
        try require(stride >= rowBytes && stride <= Int(Int32.max),
                    "\(name) stride \(stride) is smaller than a row (\(rowBytes) bytes)")
        try require(buffer.baseAddress != nil, "\(name) buffer is empty")
        let needed = stride * (rows - 1) + rowBytes
        try require(buffer.count >= needed,
                    "\(name) buffer has \(buffer.count) bytes, \(rows) rows of stride \(stride) need \(needed)")
    }

    var c: fk_image {
        fk_image(data: plane.baseAddress!.assumingMemoryBound(to: UInt8.self),
                 width: Int32(width), height: Int32(height), stride: Int32(stride),
                 format: fk_pixel_format(rawValue: UInt32(format.rawValue)),
                 uv_data: chroma?.baseAddress?.assumingMemoryBound(to: UInt8.self),
                 uv_stride: Int32(chromaStride))
    }
}
