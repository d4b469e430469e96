// The tests run on Node, whose type packages are not among the SDK's
// development dependencies. These declarations type Node's modules and the
// `ws` package as `any`, so that typecheck still checks every use of the
// SDK's own API in the tests.
declare module "node:child_process";
declare module "node:fs";
declare module "node:fs/promises";
declare module "node:net";
declare module "node:os";
declare module "node:path";
declare module "node:url";
declare module "node:crypto";
declare module "ws";
declare const process: any;
declare const Buffer: any;
