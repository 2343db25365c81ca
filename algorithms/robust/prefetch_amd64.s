#include "textflag.h"

// func prefetchWindows(ringA, sortedA *float64, linesA int, ringB, sortedB *float64, linesB int)
TEXT ·prefetchWindows(SB), NOSPLIT, $0-48
	MOVQ ringA+0(FP), AX
	PREFETCHT0 (AX)
	MOVQ ringB+24(FP), AX
	PREFETCHT0 (AX)
	MOVQ sortedA+8(FP), AX
	MOVQ linesA+16(FP), CX
	TESTQ CX, CX
	JLE b
loopa:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loopa
b:
	MOVQ sortedB+32(FP), AX
	MOVQ linesB+40(FP), CX
	TESTQ CX, CX
	JLE done
loopb:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loopb
done:
	RET
