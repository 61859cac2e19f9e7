// facekd demo: camera -> Vision face box (first frame) -> landmark tracking with the facekd Swift
// package and a CoreML model from `facekd export --to coreml`. iOS only; see ios/README.md.
#if canImport(SwiftUI) && canImport(UIKit)
import SwiftUI

@main
struct FacekdDemoApp: App {
    var body: some Scene {
        WindowGroup { ContentView() }
    }
}
#endif
