namespace Ckptmpi.Parallel;

public enum ReduceOp
{
    Sum,
    Max,
    Min,
}
