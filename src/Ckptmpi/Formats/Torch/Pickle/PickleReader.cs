using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.Torch.Pickle;

// A pickle virtual machine that builds data and never runs code (docs/formats/torch.md).

/// <summary>
/// Reads a pickle (protocols 2-5) into a <see cref="PyValue"/> graph. Globals are names, never imported: the
/// allowlist in <c>PickleReader.Globals.cs</c> maps torch tensors, storages and OrderedDicts to typed values and
/// every other call becomes an opaque <see cref="PyObject"/>. Errors carry the file offset of the opcode.
/// </summary>
internal sealed partial class PickleReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _data;
    private readonly string _path;
    private readonly long _baseOffset;
    private readonly PickleLimits _limits;
    private readonly List<PyValue> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, PyValue> _memo = new();
    private readonly Dictionary<string, TorchStorage> _storages = new(StringComparer.Ordinal);
    private readonly Dictionary<PyDict, Dictionary<PyValue, int>> _dictIndex = new(ReferenceEqualityComparer.Instance);
    private int _pos;
    private int _opPos;

    private PickleReader(byte[] data, string path, long baseOffset, PickleLimits limits)
    {
        _data = data;
        _path = path;
        _baseOffset = baseOffset;
        _limits = limits;
    }

    /// <summary>
    /// Unpickles <paramref name="pickle"/>; <paramref name="baseOffset"/> is where it starts in <paramref name="path"/>
    /// (for error offsets). Returns the root and the storages met, by key.
    /// </summary>
    /// <exception cref="CheckpointFormatException">Malformed pickle, or a graph past <paramref name="limits"/>.</exception>
    /// <exception cref="UnsupportedCheckpointException">A valid pickle construct we do not read (extension codes, out-of-band buffers, protocol &gt; 5).</exception>
    public static (PyValue Root, IReadOnlyDictionary<string, TorchStorage> Storages) Read(byte[] pickle, string path, long baseOffset = 0, PickleLimits? limits = null)
    {
        var reader = new PickleReader(pickle, path, baseOffset, limits ?? PickleLimits.Default);
        PyValue root = reader.Run();
        PickleGraph.CheckDepthAndCycles(root, reader._limits.MaxDepth, path, baseOffset);
        return (root, reader._storages);
    }

    private PyValue Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Fail("pickle ends without a STOP opcode; the data is truncated");
            _opPos = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case PickleOpcodes.Proto:
                    byte proto = ReadByte();
                    if (proto > PickleOpcodes.HighestProtocol)
                        throw new UnsupportedCheckpointException(_path, $"pickle protocol {proto} at byte {_baseOffset + _opPos} is newer than the highest we read ({PickleOpcodes.HighestProtocol})");
                    break;
                case PickleOpcodes.Frame:
                    ulong frame = ReadU64();
                    if (frame > (ulong)(_data.Length - _pos)) throw Fail($"FRAME of {frame} bytes exceeds the {_data.Length - _pos} bytes left");
                    break;
                case PickleOpcodes.Stop:
                    if (_stack.Count == 0) throw Fail("STOP with an empty stack");
                    return _stack[^1];
                case PickleOpcodes.Mark: _marks.Add(_stack.Count); break;
                case PickleOpcodes.Pop:
                    if (_stack.Count > Fence) Pop(); else PopMark(); // CPython: POP right after MARK discards the mark
                    break;
                case PickleOpcodes.PopMark: PopMark(); break;
                case PickleOpcodes.Dup: Push(Peek()); break;

                case PickleOpcodes.None: Push(PyNone.Instance); break;
                case PickleOpcodes.NewTrue: Push(PyBool.True); break;
                case PickleOpcodes.NewFalse: Push(PyBool.False); break;
                case PickleOpcodes.BinInt1: Push(new PyInt(ReadByte())); break;
                case PickleOpcodes.BinInt2: Push(new PyInt(BinaryPrimitives.ReadUInt16LittleEndian(ReadSpan(2)))); break;
                case PickleOpcodes.BinInt: Push(new PyInt(BinaryPrimitives.ReadInt32LittleEndian(ReadSpan(4)))); break;
                case PickleOpcodes.Long1: Push(ReadLong(ReadByte())); break;
                case PickleOpcodes.Long4:
                    int n4 = BinaryPrimitives.ReadInt32LittleEndian(ReadSpan(4));
                    if (n4 < 0) throw Fail($"LONG4 with negative length {n4}");
                    Push(ReadLong(n4));
                    break;
                case PickleOpcodes.Int: Push(ParseIntLine(ReadLine())); break;
                case PickleOpcodes.Long: Push(ParseLongLine(ReadLine())); break;
                case PickleOpcodes.BinFloat: Push(new PyFloat(BinaryPrimitives.ReadDoubleBigEndian(ReadSpan(8)))); break;
                case PickleOpcodes.Float:
                    string fl = ReadLine();
                    if (!double.TryParse(fl, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) throw Fail($"FLOAT '{Truncate(fl)}' is not a number");
                    Push(new PyFloat(d));
                    break;

                case PickleOpcodes.BinUnicode: Push(new PyString(DecodeUtf8(ReadSpan(ReadU32())))); break;
                case PickleOpcodes.ShortBinUnicode: Push(new PyString(DecodeUtf8(ReadSpan(ReadByte())))); break;
                case PickleOpcodes.BinUnicode8: Push(new PyString(DecodeUtf8(ReadSpan(ReadU64AsLength())))); break;
                // Python 2 str: torch.load decodes these with encoding='utf-8'.
                case PickleOpcodes.ShortBinString: Push(new PyString(DecodeUtf8(ReadSpan(ReadByte())))); break;
                case PickleOpcodes.BinString:
                    int ns = BinaryPrimitives.ReadInt32LittleEndian(ReadSpan(4));
                    if (ns < 0) throw Fail($"BINSTRING with negative length {ns}");
                    Push(new PyString(DecodeUtf8(ReadSpan(ns))));
                    break;
                case PickleOpcodes.ShortBinBytes: Push(new PyBytes(ReadSpan(ReadByte()).ToArray())); break;
                case PickleOpcodes.BinBytes: Push(new PyBytes(ReadSpan(ReadU32()).ToArray())); break;
                case PickleOpcodes.BinBytes8: Push(new PyBytes(ReadSpan(ReadU64AsLength()).ToArray())); break;
                case PickleOpcodes.ByteArray8: Push(new PyBytes(ReadSpan(ReadU64AsLength()).ToArray())); break;

                case PickleOpcodes.EmptyTuple: Push(PyTuple.Empty); break;
                case PickleOpcodes.Tuple1: Push(new PyTuple(Pop())); break;
                case PickleOpcodes.Tuple2: { PyValue b = Pop(), a = Pop(); Push(new PyTuple(a, b)); break; }
                case PickleOpcodes.Tuple3: { PyValue c = Pop(), b = Pop(), a = Pop(); Push(new PyTuple(a, b, c)); break; }
                case PickleOpcodes.Tuple: Push(new PyTuple(PopMark().ToArray())); break;
                case PickleOpcodes.EmptyList: Push(new PyList()); break;
                case PickleOpcodes.List: Push(new PyList(PopMark())); break;
                case PickleOpcodes.Append: { PyValue v = Pop(); AppendTo(Peek(), [v]); break; }
                case PickleOpcodes.Appends: { List<PyValue> items = PopMark(); AppendTo(Peek(), items); break; }
                case PickleOpcodes.EmptyDict: Push(new PyDict()); break;
                case PickleOpcodes.Dict: { var dict = new PyDict(); SetItems(dict, PopMark()); Push(dict); break; }
                case PickleOpcodes.SetItem: { PyValue v = Pop(), k = Pop(); SetItems(Peek(), [k, v]); break; }
                case PickleOpcodes.SetItems: { List<PyValue> kv = PopMark(); SetItems(Peek(), kv); break; }
                case PickleOpcodes.EmptySet: Push(TorchGlobals.MakeSet([])); break;
                case PickleOpcodes.AddItems: { List<PyValue> items = PopMark(); AddToSet(Peek(), items); break; }
                case PickleOpcodes.FrozenSet: Push(new PyObject(TorchGlobals.FrozenSet, new PyTuple(new PyList(PopMark())))); break;

                case PickleOpcodes.Global:
                    string module = ReadLine();
                    string name = ReadLine();
                    Push(MakeGlobal(module, name));
                    break;
                case PickleOpcodes.StackGlobal:
                    {
                        PyValue n = Pop(), m = Pop();
                        if (m is not PyString ms || n is not PyString nn) throw Fail("STACK_GLOBAL operands are not strings");
                        Push(MakeGlobal(ms.Value, nn.Value));
                        break;
                    }
                case PickleOpcodes.Reduce: { PyValue args = Pop(), f = Pop(); Push(Reduce(f, args)); break; }
                case PickleOpcodes.NewObj: { PyValue args = Pop(), cls = Pop(); Push(NewObj(cls, args)); break; }
                case PickleOpcodes.NewObjEx:
                    {
                        PyValue kwargs = Pop(), args = Pop(), cls = Pop();
                        if (kwargs is not PyDict { Items.Count: 0 })
                            throw new UnsupportedCheckpointException(_path, $"NEWOBJ_EX with keyword arguments at byte {_baseOffset + _opPos} is not supported");
                        Push(NewObj(cls, args));
                        break;
                    }
                case PickleOpcodes.Build: { PyValue state = Pop(); Build(Peek(), state); break; }
                case PickleOpcodes.BinPersId: Push(PersistentLoad(Pop())); break;

                case PickleOpcodes.BinPut: Memoize(ReadByte()); break;
                case PickleOpcodes.LongBinPut: Memoize(ReadU32()); break;
                case PickleOpcodes.Put: Memoize(ParseIndexLine(ReadLine())); break;
                case PickleOpcodes.Memoize: Memoize(_memo.Count); break;
                case PickleOpcodes.BinGet: Push(MemoGet(ReadByte())); break;
                case PickleOpcodes.LongBinGet: Push(MemoGet(ReadU32())); break;
                case PickleOpcodes.Get: Push(MemoGet(ParseIndexLine(ReadLine()))); break;

                case PickleOpcodes.Ext1: case PickleOpcodes.Ext2: case PickleOpcodes.Ext4:
                case PickleOpcodes.NextBuffer: case PickleOpcodes.ReadOnlyBuffer:
                case PickleOpcodes.Inst: case PickleOpcodes.Obj: case PickleOpcodes.PersId:
                case PickleOpcodes.String: case PickleOpcodes.Unicode:
                    throw new UnsupportedCheckpointException(_path, $"pickle opcode 0x{op:X2} ('{(char)op}') at byte {_baseOffset + _opPos} is not used by torch.save and is not supported");
                default:
                    throw Fail($"unknown pickle opcode 0x{op:X2}; the data is corrupt or not a pickle");
            }
        }
    }

    // ---- stack and memo ----

    private int Fence => _marks.Count == 0 ? 0 : _marks[^1];

    private void Push(PyValue v) => _stack.Add(v);

    private PyValue Pop()
    {
        if (_stack.Count <= Fence) throw Fail("pickle stack underflow");
        PyValue v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private PyValue Peek()
    {
        if (_stack.Count <= Fence) throw Fail("pickle stack underflow");
        return _stack[^1];
    }

    private List<PyValue> PopMark()
    {
        if (_marks.Count == 0) throw Fail("opcode needs a MARK but there is none");
        int mark = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        List<PyValue> items = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private void Memoize(long index)
    {
        if (_stack.Count <= Fence) throw Fail("memo store with nothing on the stack above the last MARK");
        if (_memo.Count >= _limits.MaxMemoEntries && !_memo.ContainsKey(index))
            throw Fail($"more than {_limits.MaxMemoEntries} memo entries");
        _memo[index] = _stack[^1];
    }

    private PyValue MemoGet(long index) =>
        _memo.TryGetValue(index, out PyValue? v) ? v : throw Fail($"memo entry {index} is read before it is stored");

    // ---- containers ----

    private void AppendTo(PyValue target, List<PyValue> items)
    {
        if (target is not PyList list) throw Fail($"APPEND(S) to a {PickleGraph.Describe(target)}; only lists are supported");
        list.Items.AddRange(items);
    }

    private void SetItems(PyValue target, List<PyValue> keysAndValues)
    {
        if (target is not PyDict dict) throw Fail($"SETITEM(S) on a {PickleGraph.Describe(target)}; only dicts are supported");
        if (keysAndValues.Count % 2 != 0) throw Fail("SETITEMS with an odd number of stack items");
        if (!_dictIndex.TryGetValue(dict, out Dictionary<PyValue, int>? index))
        {
            index = new Dictionary<PyValue, int>();
            for (int i = 0; i < dict.Items.Count; i++) if (IsHashable(dict.Items[i].Key)) index[dict.Items[i].Key] = i;
            _dictIndex[dict] = index;
        }
        for (int i = 0; i < keysAndValues.Count; i += 2)
        {
            PyValue k = keysAndValues[i], v = keysAndValues[i + 1];
            // A repeated key replaces the value in place, as a Python dict does.
            if (IsHashable(k) && index.TryGetValue(k, out int at))
            {
                dict.Items[at] = new(dict.Items[at].Key, v);
                continue;
            }
            if (IsHashable(k)) index[k] = dict.Items.Count;
            dict.Items.Add(new(k, v));
        }
    }

    private static bool IsHashable(PyValue k) => k is PyString or PyInt or PyBool or PyNone or PyFloat or PyGlobal or PyBytes;

    private void AddToSet(PyValue target, List<PyValue> items)
    {
        if (target is not PyObject { Args.Items: [PyList list] } o || o.Callable != TorchGlobals.Set)
            throw Fail($"ADDITEMS on a {PickleGraph.Describe(target)}; only sets are supported");
        list.Items.AddRange(items);
    }

    private static PyGlobal MakeGlobal(string module, string name) =>
        // Protocol 3+ writes Python 3 names; protocol 2 (torch.save) writes Python 2 names. Keep one spelling.
        new(module == "builtins" ? TorchGlobals.Builtins : module, name);

    // ---- primitive readers: every length is checked against what remains before anything is allocated ----

    private CheckpointFormatException Fail(string message) => new(_path, _baseOffset + _opPos, message);

    private int Remaining => _data.Length - _pos;

    private byte ReadByte()
    {
        if (Remaining < 1) throw Fail("pickle ends inside an opcode argument; the data is truncated");
        return _data[_pos++];
    }

    private ReadOnlySpan<byte> ReadSpan(long length)
    {
        if (length < 0 || length > Remaining)
            throw Fail($"opcode declares {length} bytes but only {Remaining} remain in the pickle");
        var span = new ReadOnlySpan<byte>(_data, _pos, (int)length);
        _pos += (int)length;
        return span;
    }

    private uint ReadU32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4));

    private ulong ReadU64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadSpan(8));

    private long ReadU64AsLength()
    {
        ulong v = ReadU64();
        return v > long.MaxValue ? long.MaxValue : (long)v;
    }

    private string ReadLine()
    {
        int nl = Array.IndexOf(_data, (byte)'\n', _pos);
        if (nl < 0) throw Fail("text argument has no terminating newline; the data is truncated");
        string s = DecodeUtf8(new ReadOnlySpan<byte>(_data, _pos, nl - _pos));
        _pos = nl + 1;
        return s;
    }

    private string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(_path, _baseOffset + _opPos, "string is not valid UTF-8", inner: e);
        }
    }

    private PyInt ReadLong(int length)
    {
        if (length > _limits.MaxLongBytes) throw Fail($"integer of {length} bytes exceeds the {_limits.MaxLongBytes}-byte limit");
        return new PyInt(new BigInteger(ReadSpan(length), isUnsigned: false, isBigEndian: false));
    }

    private PyValue ParseIntLine(string s)
    {
        if (s == "01") return PyBool.True; // protocol 0 spells booleans as INT 01 / 00
        if (s == "00") return PyBool.False;
        return s.Length <= _limits.MaxLongBytes && BigInteger.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out BigInteger v)
            ? new PyInt(v)
            : throw Fail($"INT '{Truncate(s)}' is not an integer");
    }

    private PyInt ParseLongLine(string s)
    {
        string digits = s.EndsWith('L') ? s[..^1] : s;
        return digits.Length <= _limits.MaxLongBytes && BigInteger.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out BigInteger v)
            ? new PyInt(v)
            : throw Fail($"LONG '{Truncate(s)}' is not an integer");
    }

    private long ParseIndexLine(string s) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : throw Fail($"memo index '{Truncate(s)}' is not a number");

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
