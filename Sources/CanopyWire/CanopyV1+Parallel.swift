import CCanopyProto

extension CanopyV1 {
    /// APAR parallel decoding of a request (`canopy.v1.ParallelParams`); unset fields take
    /// the engine's defaults.
    public struct ParallelParams: Sendable, Equatable {
        /// Whether the request may fork; nil: on for APAR models when n = 1.
        public var apar: Bool?
        /// Deepest fork nesting.
        public var maxDepth: Int32?
        /// Most branches alive at once, the root included.
        public var maxBranches: Int32?

        /// Creates parameters that all take the engine defaults.
        public init(apar: Bool? = nil, maxDepth: Int32? = nil, maxBranches: Int32? = nil) {
            self.apar = apar
            self.maxDepth = maxDepth
            self.maxBranches = maxBranches
        }
    }

    /// Where a child's text goes in its parent's (`canopy.v1.BranchFork`).
    public struct BranchFork: Sendable, Equatable {
        /// Characters of the parent's text before the child's.
        public var textOffset: UInt32
        /// The child branch.
        public var child: UInt32

        /// Creates a fork.
        public init(textOffset: UInt32, child: UInt32) {
            self.textOffset = textOffset
            self.child = child
        }
    }

    /// One branch of an APAR answer (`canopy.v1.BranchResult`).
    public struct BranchResult: Sendable, Equatable {
        /// The branch (0: the root).
        public var id: UInt32
        /// The branch it forked from; nil for the root.
        public var parent: UInt32?
        /// Why it ended.
        public var finishReason: FinishReason
        /// The branch's own ids, control tokens included.
        public var tokenIDs: [Int32]
        /// The branch's own text, control tokens removed.
        public var text: String
        /// Its forks, in order.
        public var forks: [BranchFork]

        /// Creates a result.
        public init(id: UInt32, parent: UInt32?, finishReason: FinishReason, tokenIDs: [Int32], text: String,
                    forks: [BranchFork] = []) {
            self.id = id
            self.parent = parent
            self.finishReason = finishReason
            self.tokenIDs = tokenIDs
            self.text = text
            self.forks = forks
        }
    }
}

extension CanopyV1.ParallelParams: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_parallel_params_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__ParallelParams> {
        let c = try arena.message(Canopy__V1__ParallelParams.self, canopy__v1__parallel_params__init)
        if let apar {
            c.pointee.optional_apar_case = CANOPY__V1__PARALLEL_PARAMS__OPTIONAL_APAR_APAR
            c.pointee.apar = apar ? 1 : 0
        }
        if let maxDepth {
            c.pointee.optional_max_depth_case = CANOPY__V1__PARALLEL_PARAMS__OPTIONAL_MAX_DEPTH_MAX_DEPTH
            c.pointee.max_depth = maxDepth
        }
        if let maxBranches {
            c.pointee.optional_max_branches_case = CANOPY__V1__PARALLEL_PARAMS__OPTIONAL_MAX_BRANCHES_MAX_BRANCHES
            c.pointee.max_branches = maxBranches
        }
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__ParallelParams>) {
        let m = c.pointee
        self.init()
        if m.optional_apar_case == CANOPY__V1__PARALLEL_PARAMS__OPTIONAL_APAR_APAR { apar = m.apar != 0 }
        if m.optional_max_depth_case == CANOPY__V1__PARALLEL_PARAMS__OPTIONAL_MAX_DEPTH_MAX_DEPTH { maxDepth = m.max_depth }
        if m.optional_max_branches_case == CANOPY__V1__PARALLEL_PARAMS__OPTIONAL_MAX_BRANCHES_MAX_BRANCHES {
            maxBranches = m.max_branches
        }
    }
}

extension CanopyV1.BranchFork: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_branch_fork_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__BranchFork> {
        let c = try arena.message(Canopy__V1__BranchFork.self, canopy__v1__branch_fork__init)
        c.pointee.text_offset = textOffset
        c.pointee.child = child
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__BranchFork>) {
        self.init(textOffset: c.pointee.text_offset, child: c.pointee.child)
    }
}

extension CanopyV1.BranchResult: ProtobufCRepresentable {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { ccanopy_branch_result_descriptor() }

    public func makeC(in arena: ProtobufCArena) throws -> UnsafeMutablePointer<Canopy__V1__BranchResult> {
        let c = try arena.message(Canopy__V1__BranchResult.self, canopy__v1__branch_result__init)
        c.pointee.id = id
        if let parent {
            c.pointee.optional_parent_case = CANOPY__V1__BRANCH_RESULT__OPTIONAL_PARENT_PARENT
            c.pointee.parent = parent
        }
        c.pointee.finish_reason = finishReason.c
        c.pointee.n_token_ids = tokenIDs.count
        c.pointee.token_ids = try arena.array(tokenIDs)
        c.pointee.text = try arena.string(text)
        c.pointee.n_forks = forks.count
        c.pointee.forks = try arena.pointers(forks.map { try $0.makeC(in: arena) })
        return c
    }

    public init(c: UnsafePointer<Canopy__V1__BranchResult>) {
        let m = c.pointee
        self.init(
            id: m.id, parent: m.optional_parent_case == CANOPY__V1__BRANCH_RESULT__OPTIONAL_PARENT_PARENT ? m.parent : nil,
            finishReason: .init(c: m.finish_reason), tokenIDs: CRead.array(m.token_ids, m.n_token_ids),
            text: CRead.string(m.text), forks: CRead.messages(m.forks, m.n_forks, CanopyV1.BranchFork.init(c:)))
    }
}
