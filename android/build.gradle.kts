// facekd for Android: `facekd` (library: Kotlin API + JNI bridge over the C kernel set in ../csrc)
// and `app` (CameraX + ML Kit + ExecuTorch demo). See android/README.md.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("com.android.library") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.4.20" apply false
}
