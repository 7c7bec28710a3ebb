/**
 * Validates a manifest against the Kubernetes API's OpenAPI schema, offline: kubernetes-models
 * ships one generated model per apiVersion/kind, whose `validate()` checks the schema (types,
 * required fields, enums). Returns the first error, or undefined when the manifest is valid.
 */
export async function validateManifest(doc: { apiVersion?: string; kind?: string; [field: string]: unknown }): Promise<string | undefined> {
  const [group, version] = doc.apiVersion?.includes('/') ? doc.apiVersion.split('/') : ['', doc.apiVersion];
  const path = `kubernetes-models/${group ? `${group}/` : ''}${version}/${doc.kind}`;
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = ((await import(path)) as Record<string, typeof Model>)[doc.kind!]!;
  } catch {
    return `no schema for ${doc.apiVersion} ${doc.kind}`;
  }
  try {
    new Model(doc).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
