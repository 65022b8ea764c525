# bcryptprimitives.dll for Wine < 9 (Debian 12 has Wine 8.0, which lacks the
# DLL). Go >= 1.22 windows binaries load bcryptprimitives!ProcessPrng at
# start-up and die without it. Ours forwards to advapi32!SystemFunction036
# (RtlGenRandom), which Wine 8 has. Built with binutils only: scripts/test.
#
# BOOL WINAPI ProcessPrng(PBYTE buf, SIZE_T len): rcx = buf, rdx = len.
    .text
    .globl ProcessPrng
ProcessPrng:
    subq $40, %rsp                       # shadow space, 16-byte aligned
    call *__imp_SystemFunction036(%rip)  # edx: lengths stay under 4 GiB
    movl $1, %eax                        # always TRUE, as on Windows
    addq $40, %rsp
    ret

    .globl DllMain
DllMain:
    movl $1, %eax
    ret
