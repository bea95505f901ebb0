/// A plain-text table with aligned columns: the first column left-aligned, the others
/// right-aligned (they hold numbers), separated by two spaces, with a rule under the header.
struct TextTable {
    /// Column titles.
    let header: [String]
    /// Rows; each has as many cells as the header.
    private(set) var rows: [[String]] = []

    /// Creates an empty table with these column titles.
    init(_ header: [String]) {
        self.header = header
    }

    /// Appends a row; it must have one cell per column.
    mutating func add(_ row: [String]) {
        precondition(row.count == header.count, "a row has \(row.count) cells for \(header.count) columns")
        rows.append(row)
    }

    /// The table as lines ending in newlines.
    func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
