/** Where pages live, in one place: repository names keep their slashes in the path. */
export const repositoryHref = (registry: string, name: string, query: Record<string, string | number | undefined> = {}): string => {
  const params = new URLSearchParams({ registry })
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value))
  return `/repositories/${name.split('/').map(encodeURIComponent).join('/')}?${params}`
}
export const findingHref = (id: number): string => `/findings/${id}`
export const scanHref = (id: string | number): string => `/scans/${id}`
