/* Wine 8.0, Debian 12's, has no bcryptprimitives.dll, and Rust's standard library on Windows 10
 * and later takes its random bytes from that DLL's ProcessPrng (the hash maps' keys among them),
 * so every Rust program stops at load there with STATUS_DLL_NOT_FOUND. Windows itself ships the
 * DLL. This stand-in, built with mingw-w64 and put into the test's wine prefix only (never into
 * an archive), forwards to bcrypt.dll's BCryptGenRandom, which Wine has. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
