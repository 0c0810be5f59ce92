// tests/arch/x86_64/faults.S: instructions that fault, for the signal report tests, in
// assembly so that no sanitizer instrumentation catches the fault before the CPU does.
//
// urgent_test_idiv(a = edi, b = esi): returns a / b with idiv (b = 0: SIGFPE, FPE_INTDIV).
// urgent_test_load(p = rdi): returns *(uint64_t*)p (an unmapped p: SIGSEGV at that address).

    .text

    .globl  urgent_test_idiv
    .type   urgent_test_idiv, @function
urgent_test_idiv:
    .cfi_startproc
    movl    %edi, %eax      // dividend
    cltd                    // sign-extend into edx:eax
    idivl   %esi            // eax = edx:eax / esi; #DE when esi is 0
    ret
    .cfi_endproc
    .size   urgent_test_idiv, .-urgent_test_idiv

    .globl  urgent_test_load
    .type   urgent_test_load, @function
urgent_test_load:
    .cfi_startproc
    movq    (%rdi), %rax    // #PF when p is unmapped
    ret
    .cfi_endproc
    .size   urgent_test_load, .-urgent_test_load

    .section .note.GNU-stack,"",@progbits
