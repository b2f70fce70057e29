namespace Ckptmpi.Conversion.Verify;

/// <summary>One finding of <c>ckptmpi verify</c>: the kind, what it is about (a file or tensor name) and the details.</summary>
public sealed record VerifyProblem(VerifyProblemKind Kind, string Subject, string Detail)
{
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Subject}: {Detail}";
}
