namespace Ckptmpi.Tensors.Views;

/// <summary>
/// An axis-aligned box of a tensor's index space: on axis <c>i</c> the indices <c>[Start[i], Start[i] + Length[i])</c>.
/// Sources and outputs are described as boxes of canonical tensors, so a shard along any dimension is one box,
/// never one run per row.
/// </summary>
public sealed class Box : IEquatable<Box>
{
    public Box(long[] start, long[] length)
    {
        if (start.Length != length.Length)
            throw new ArgumentException($"a box needs one start per length ({start.Length} starts, {length.Length} lengths)");
        for (int i = 0; i < start.Length; i++)
        {
            if (start[i] < 0 || length[i] < 0)
                throw new ArgumentOutOfRangeException(nameof(start), $"axis {i}: start {start[i]}, length {length[i]}");
        }
        Start = start;
        Length = length;
    }

    public long[] Start { get; }

    public long[] Length { get; }

    public int Rank => Start.Length;

    public long ElementCount => DTypes.ElementCount(Length);

    public bool IsEmpty => Length.Any(l => l == 0);

    /// <summary>The whole index space of <paramref name="shape"/>.</summary>
    public static Box Full(IReadOnlyList<long> shape) => new(new long[shape.Count], shape.ToArray());

    /// <summary>A one-axis box: elements <c>[first, first + count)</c>.</summary>
    public static Box Range(long first, long count) => new([first], [count]);

    public long End(int axis) => Start[axis] + Length[axis];

    /// <summary>The common part of two boxes of the same rank, or null when they do not overlap.</summary>
    public Box? Intersect(Box other)
    {
        CheckRank(other);
        var start = new long[Rank];
        var length = new long[Rank];
        for (int i = 0; i < Rank; i++)
        {
            start[i] = Math.Max(Start[i], other.Start[i]);
            long end = Math.Min(End(i), other.End(i));
            if (end <= start[i]) return null;
            length[i] = end - start[i];
        }
        return new Box(start, length);
    }

    public bool Contains(Box other)
    {
        CheckRank(other);
        for (int i = 0; i < Rank; i++)
        {
            if (other.Start[i] < Start[i] || other.End(i) > End(i)) return false;
        }
        return true;
    }

    /// <summary>Whether the box lies inside a tensor of <paramref name="shape"/>.</summary>
    public bool FitsIn(IReadOnlyList<long> shape)
    {
        if (shape.Count != Rank) return false;
        for (int i = 0; i < Rank; i++)
        {
            if (End(i) > shape[i]) return false;
        }
        return true;
    }

    private void CheckRank(Box other)
    {
        if (other.Rank != Rank) throw new ArgumentException($"boxes of rank {Rank} and {other.Rank} cannot be compared");
    }

    public bool Equals(Box? other) => other is not null && Start.AsSpan().SequenceEqual(other.Start) && Length.AsSpan().SequenceEqual(other.Length);

    public override bool Equals(object? obj) => Equals(obj as Box);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (long s in Start) h.Add(s);
        foreach (long l in Length) h.Add(l);
        return h.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(", ", Start.Select((s, i) => $"{s}:{s + Length[i]}")) + "]";
}
